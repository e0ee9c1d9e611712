"""run_login: one login from start to end, owned by one worker thread.

Plain code over the store, a runtime and the driver, so it runs the same under
Celery and in tests. Contract: whatever happens, the CLI place is stopped, the
heartbeat dropped, and the session left in a state that tells the user why.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from vaporforge import defaults
from vaporforge.cli_output import Failed, Rejected, TokenPrinted
from vaporforge.errors import BrokerError, LoginFailed
from vaporforge.redact import redact
from vaporforge.sealing import seal
from vaporforge.settings import Settings
from vaporforge.states import Event, InvalidTransition, LoginMode, SessionState
from vaporforge.store import WAKE, SessionNotFound, SessionRecord, SessionStore
from worker.driver import Exited, LoginDriver
from worker.heartbeat import Heartbeats
from worker.runtimes.base import LoginPlace, Runtime, SpawnSpec

log = logging.getLogger("vaporforge.login")

CREDENTIALS_FILE = ".claude/.credentials.json"
# Where the CLI keeps the API key it mints for a Console (API billing) account.
CONFIG_FILES = (".claude.json", ".claude-custom-oauth.json")
BASE_ENV = {
    "TERM": "xterm-256color",
    "LANG": "C.UTF-8",
    "CLAUDE_CODE_FULL_SIGN_IN_LINK": "1",
    "BROWSER": "true",  # a harmless command: the CLI's own browser launch does nothing
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
}


@dataclass
class LoginContext:
    settings: Settings
    store: SessionStore
    runtime: Runtime
    heartbeats: Heartbeats
    shutting_down: threading.Event


def spawn_spec(settings: Settings, mode: LoginMode) -> SpawnSpec:
    return SpawnSpec(argv=(*settings.login_command, *mode.cli_args),
                     env={**BASE_ENV, **settings.login_env},
                     cols=defaults.PTY_COLUMNS, rows=defaults.PTY_ROWS)


def run_login(ctx: LoginContext, session_id: str) -> SessionState | None:
    """Drive one session; returns its final state as this worker left it."""
    store = ctx.store
    record = store.get(session_id)
    if record is None or record.state is not SessionState.STARTING:
        log.info("session %s not startable (%s)", session_id, record and record.state.value)
        return record.state if record else None
    if store.now() >= record.expires_at:
        return _finish(store, session_id, Event.EXPIRED, "expired", "The login session expired.")
    if not store.take_ownership(session_id, ctx.heartbeats.owner, ctx.settings.heartbeat_ttl):
        log.warning("session %s already owned by another worker", session_id)
        return record.state
    with ctx.heartbeats.hold(session_id):
        return _drive(ctx, record)


def _drive(ctx: LoginContext, record: SessionRecord) -> SessionState | None:
    store, session_id = ctx.store, record.session_id
    place: LoginPlace | None = None
    try:
        place = ctx.runtime.start(session_id, record.expires_at)
        driver = LoginDriver(place.spawn(spawn_spec(ctx.settings, record.mode)), record.mode,
                             extra_hosts=ctx.settings.extra_sign_in_hosts,
                             ended=lambda: _ended(store, session_id))
        url = driver.read_url(ctx.settings.url_timeout)
        store.transition(session_id, Event.URL_PUBLISHED, oauth_url=url)
        log.info("session %s awaiting code", session_id)
        return _await_codes(ctx, record, driver, place)
    except LoginFailed as exc:
        return _finish(store, session_id, Event.FAILED, exc.code, exc.message)
    except (InvalidTransition, SessionNotFound):
        # Someone else ended the session (cancel, expiry): nothing left to record.
        current = store.get(session_id)
        return current.state if current else None
    except BrokerError as exc:
        log.warning("session %s runtime error: %s", session_id, exc.code)
        return _finish(store, session_id, Event.FAILED, exc.code, exc.message)
    except Exception:
        log.exception("session %s crashed", session_id)
        return _finish(store, session_id, Event.FAILED, "internal_error",
                       "The login failed because of an error on our side.")
    finally:
        store.drop_codes(session_id)
        if place is not None:
            try:
                place.stop()
            except BrokerError as exc:  # the reaper removes it once the engine answers
                log.error("session %s: could not stop its login place: %s", session_id,
                          exc.message)


def _await_codes(ctx: LoginContext, record: SessionRecord, driver: LoginDriver,
                 place: LoginPlace) -> SessionState | None:
    store, settings, sid = ctx.store, ctx.settings, record.session_id
    wait_until = min(time.time() + settings.code_wait_timeout, record.expires_at)
    while True:
        now = time.time()
        if now >= record.expires_at:
            return _finish(store, sid, Event.EXPIRED, "expired", "The login session expired.")
        if now >= wait_until:
            return _finish(store, sid, Event.FAILED, "timeout",
                           "No code was pasted in time.")
        if ctx.shutting_down.is_set():
            return _finish(store, sid, Event.FAILED, "worker_lost",
                           "The worker running this login shut down.")
        if not driver.alive():
            raise driver.exited_error()
        item = store.wait_code(sid, min(defaults.CODE_POLL_INTERVAL, max(wait_until - now, 0.1)))
        current = store.get(sid)
        if current is None or current.state.terminal:
            return current.state if current else None
        if item is None or item == WAKE:
            continue
        if current.state is not SessionState.VERIFYING:
            continue  # a stale code for an attempt already answered
        answer = driver.submit(item, settings.exchange_timeout)
        if isinstance(answer, Rejected):
            store.transition(sid, Event.CODE_REJECTED, error_code="invalid_code",
                             error_message=redact(answer.sentence))
            continue
        if isinstance(answer, Failed):
            return _finish(store, sid, Event.FAILED, "exchange_failed", redact(answer.line))
        payload = _payload(record, answer, place)
        # The payload goes first so a claim never sees `ready` without it; if the
        # session ended meanwhile (cancel, expiry), the payload goes too.
        store.put_payload(sid, payload, settings.credentials_ttl)
        try:
            store.transition(sid, Event.SUCCEEDED, error_code="", error_message="",
                             oauth_url="")
        except (InvalidTransition, SessionNotFound):
            store.drop_payload(sid)
            raise
        log.info("session %s ready", sid)
        return SessionState.READY


def _payload(record: SessionRecord, answer: TokenPrinted | Exited, place: LoginPlace) -> str:
    """The claim's body; sealed to the browser's key when it sent one."""
    body = {"mode": record.mode.value, **_credentials(answer, place)}
    if record.client_key:
        return json.dumps({"mode": record.mode.value,
                           "jwe": seal(body, json.loads(record.client_key))})
    return json.dumps(body)


def _credentials(answer: TokenPrinted | Exited, place: LoginPlace) -> dict[str, Any]:
    """``{"credentials": …}`` plus ``"api_key"`` when the CLI minted one (Console)."""
    if isinstance(answer, TokenPrinted):
        return {"credentials": {"oauth_token": answer.token}}
    if answer.status not in (0, None):
        raise LoginFailed("exchange_failed", f"The CLI ended with status {answer.status}.")
    credentials = _read_json(place, CREDENTIALS_FILE)
    api_key = next((key for name in CONFIG_FILES
                    if isinstance(key := (_read_json(place, name) or {}).get("primaryApiKey"),
                                  str) and key), None)
    # The CLI says "Login successful." even when the sign-in service sent no
    # usable tokens; an empty file is not a login.
    if not (credentials or {}).get("claudeAiOauth") and api_key is None:
        raise LoginFailed("exchange_failed", "The CLI finished but wrote no credentials.")
    out: dict[str, Any] = {"credentials": credentials or {}}
    if api_key is not None:
        out["api_key"] = api_key
    return out


def _read_json(place: LoginPlace, path: str) -> dict[str, Any] | None:
    raw = place.read_file(path)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise LoginFailed("exchange_failed", "The CLI wrote credentials we cannot read.") from None
    if not isinstance(value, dict):
        raise LoginFailed("exchange_failed", "The CLI wrote credentials we cannot read.")
    return value


def _ended(store: SessionStore, sid: str) -> bool:
    record = store.get(sid)
    return record is None or record.state.terminal


def _finish(store: SessionStore, sid: str, event: Event, code: str,
            message: str) -> SessionState | None:
    try:
        return store.transition(sid, event, error_code=code, error_message=message).state
    except (InvalidTransition, SessionNotFound):
        current = store.get(sid)
        return current.state if current else None
