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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaporforge import defaults, grants, logs
from vaporforge.cli_output import Failed, Rejected, TokenPrinted
from vaporforge.errors import BrokerError, ErrorCode, LoginFailed, SessionEnded
from vaporforge.login_container import CLI_ENV
from vaporforge.redact import redact
from vaporforge.sealing import seal
from vaporforge.session import lifecycle
from vaporforge.session.record import SessionRecord
from vaporforge.session.states import LoginMode, SessionState
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings
from worker.driver import Exited, LoginDriver
from worker.heartbeat import Heartbeats
from worker.metrics import WorkerMetrics
from worker.runtimes.base import LoginPlace, Runtime, SpawnSpec

log = logging.getLogger("vaporforge.login")

CREDENTIALS_FILE = ".claude/.credentials.json"
# Where the CLI keeps the API key it mints for a Console (API billing) account.
CONFIG_FILES = (".claude.json", ".claude-custom-oauth.json")
BASE_ENV = CLI_ENV
"""The CLI's environment (kept in the login container's spec: the socket proxy
lets an exec set these names and no others)."""


@dataclass
class LoginContext:
    settings: Settings
    store: SessionStore
    runtime: Runtime
    heartbeats: Heartbeats
    shutting_down: threading.Event
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    cli_version: str = ""
    """``claude --version`` as probed at start; picks the CLI's wording (empty: any)."""

    def drain(self) -> None:
        """Stop taking logins; wake every login waiting for a code, so it ends
        as ``worker_shutdown`` now rather than at its next wait slice."""
        self.shutting_down.set()
        for session_id in self.heartbeats.held_ids():
            try:
                self.store.wake(session_id)
            except Exception:  # noqa: BLE001 - it notices at its next slice all the same
                log.warning("session %s: could not wake it for the drain", session_id)


def spawn_spec(settings: Settings, mode: LoginMode) -> SpawnSpec:
    return SpawnSpec(argv=(*settings.login_command, *mode.cli_args),
                     env={**BASE_ENV, **settings.login_env},
                     cols=defaults.PTY_COLUMNS, rows=defaults.PTY_ROWS)


def run_login(ctx: LoginContext, session_id: str) -> SessionState | None:
    """Drive one session; returns its final state as this worker left it."""
    with logs.bound_session(session_id):
        return _run(ctx, session_id)


def _run(ctx: LoginContext, session_id: str) -> SessionState | None:
    record = lifecycle.take(ctx.store, session_id, ctx.heartbeats.owner,
                            ctx.settings.heartbeat_ttl)
    if record is None:
        current = lifecycle.current(ctx.store, session_id)
        log.info("session %s not startable (%s)", session_id,
                 current.state.value if current else "gone")
        return current.state if current else None
    with ctx.heartbeats.hold(session_id):
        state = _drive(ctx, record)
    ctx.metrics.logins.labels(state.value if state else "gone").inc()
    return state


def _drive(ctx: LoginContext, record: SessionRecord) -> SessionState | None:
    store, session_id = ctx.store, record.session_id
    places: list[LoginPlace] = []

    def start_and_serve() -> SessionState | None:
        place = ctx.runtime.start(session_id, record.expires_at)
        places.append(place)
        # A draining worker stops waiting for a URL at once, but lets a code
        # exchange already under way finish.
        starting = [True]
        driver = LoginDriver(place.spawn(spawn_spec(ctx.settings, record.mode)), record.mode,
                             extra_hosts=ctx.settings.extra_sign_in_hosts,
                             cli_version=ctx.cli_version,
                             ended=lambda: lifecycle.ended(store, session_id) or (
                                 starting[0] and ctx.shutting_down.is_set()))
        taken = time.monotonic()
        url = driver.read_url(ctx.settings.url_timeout)
        lifecycle.publish_url(store, session_id, url)
        ctx.metrics.time_to_url.observe(time.monotonic() - taken)
        starting[0] = False
        log.info("session %s awaiting code", session_id)
        return _await_codes(ctx, record, driver, place)

    return _guarded(ctx, session_id, places, start_and_serve)


def serve_bound(ctx: LoginContext, record: SessionRecord, driver: LoginDriver,
                place: LoginPlace) -> SessionState | None:
    """Serve a session that took a warm entry: its CLI already shows the URL the
    session holds; from here on it is an ordinary login owned by this worker."""
    with logs.bound_session(record.session_id), ctx.heartbeats.hold(record.session_id):
        log.info("session %s awaiting code (warm)", record.session_id)
        state = _guarded(ctx, record.session_id, [place],
                         lambda: _await_codes(ctx, record, driver, place))
    ctx.metrics.logins.labels(state.value if state else "gone").inc()
    return state


def _guarded(ctx: LoginContext, session_id: str, places: list[LoginPlace],
             step: Callable[[], SessionState | None]) -> SessionState | None:
    """Run ``step``; whatever happens, record why the login ended and stop its
    place. Returns the state the session is left in."""
    store = ctx.store
    try:
        return step()
    except SessionEnded:
        return lifecycle.when_ended(store, session_id, shutting_down=ctx.shutting_down.is_set())
    except BrokerError as exc:  # LoginFailed, RuntimeFailure: the code says why
        log.warning("session %s failed: %s", session_id, exc.code.value)
        return lifecycle.fail(store, session_id, exc.code, exc.message)
    except Exception:
        log.exception("session %s crashed", session_id)
        return lifecycle.fail(store, session_id, ErrorCode.INTERNAL_ERROR,
                              "The login failed because of an error on our side.")
    finally:
        # The CLI goes first: it may hold credentials, and Redis may be failing.
        for place in places:
            try:
                place.stop()
            except BrokerError as exc:  # the reaper removes it once the engine answers
                log.error("session %s: could not stop its login place: %s", session_id,
                          exc.message)
        try:
            store.drop_codes(session_id)
        except Exception:  # noqa: BLE001 - the code list lapses by its own TTL
            log.warning("session %s: could not drop its code list", session_id)


def _await_codes(ctx: LoginContext, record: SessionRecord, driver: LoginDriver,
                 place: LoginPlace) -> SessionState | None:
    store, settings, sid = ctx.store, ctx.settings, record.session_id
    wait_until = min(time.time() + settings.code_wait_timeout, record.expires_at)
    while True:
        now = time.time()
        ending = lifecycle.wait_ending(record, now=now, wait_until=wait_until,
                                       shutting_down=ctx.shutting_down.is_set())
        if ending is not None:
            return lifecycle.finish(store, sid, *ending)
        if not driver.alive():
            raise driver.exited_error()
        turn = lifecycle.next_code(store, sid, min(defaults.CODE_POLL_INTERVAL,
                                                   max(wait_until - now, 0.1)))
        if turn.done:
            return turn.state
        if turn.code is None:
            continue  # woken, or a stale code for an attempt already answered
        received = time.monotonic()
        answer = driver.submit(turn.code, settings.exchange_timeout)
        if isinstance(answer, Rejected):
            lifecycle.reject_code(store, sid, redact(answer.sentence))
            continue
        if isinstance(answer, Failed):
            return lifecycle.fail(store, sid, ErrorCode.EXCHANGE_FAILED, redact(answer.line))
        if not isinstance(answer, TokenPrinted | Exited):  # the driver waits out LoggedIn
            raise LoginFailed(ErrorCode.EXCHANGE_FAILED, "The CLI gave no result.")
        # Stored with the move to `ready` in one step; if the session ended
        # meanwhile (cancel, expiry), nothing is stored.
        state = lifecycle.succeed(store, sid, _payload(settings, record, answer, place),
                                  settings.credentials_ttl)
        ctx.metrics.time_to_ready.observe(time.monotonic() - received)
        log.info("session %s ready", sid)
        return state


def _payload(settings: Settings, record: SessionRecord, answer: TokenPrinted | Exited,
             place: LoginPlace) -> str:
    """The claim's body; sealed to the browser's key when it sent one. With
    grant keys, ``refresh_grant`` beside it for credentials with a refresh token
    (it holds only the token's hash, so it may sit outside the seal)."""
    body = {"mode": record.mode.value, **_credentials(answer, place)}
    grant = grants.for_login(
        settings.grant_keys, settings.grant_ttl,
        grants.Grant(record.host, record.end_user, record.mode.value, (), record.session_id),
        body.get("credentials") or {})
    extra = {"refresh_grant": grant} if grant else {}
    if record.client_key:
        return json.dumps({"mode": record.mode.value,
                           "jwe": seal(body, json.loads(record.client_key)), **extra})
    return json.dumps({**body, **extra})


def _credentials(answer: TokenPrinted | Exited, place: LoginPlace) -> dict[str, Any]:
    """``{"credentials": …}`` plus ``"api_key"`` when the CLI minted one (Console)."""
    if isinstance(answer, TokenPrinted):
        return {"credentials": {"oauth_token": answer.token}}
    if answer.status not in (0, None):
        raise LoginFailed(ErrorCode.EXCHANGE_FAILED, f"The CLI ended with status {answer.status}.")
    credentials = _read_json(place, CREDENTIALS_FILE)
    api_key = next((key for name in CONFIG_FILES
                    if isinstance(key := (_read_json(place, name) or {}).get("primaryApiKey"),
                                  str) and key), None)
    # The CLI says "Login successful." even when the sign-in service sent no
    # usable tokens; an empty file is not a login.
    if not (credentials or {}).get("claudeAiOauth") and api_key is None:
        raise LoginFailed(ErrorCode.EXCHANGE_FAILED, "The CLI finished but wrote no credentials.")
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
        value = None
    if not isinstance(value, dict):
        raise LoginFailed(ErrorCode.EXCHANGE_FAILED, "The CLI wrote credentials we cannot read.")
    return value

