"""The owning worker's side of the lifecycle: take a session, publish its URL,
answer codes, and decide when to stop waiting. Called as ``lifecycle.<step>``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from vaporforge.errors import ErrorCode, SessionEnded, SessionNotFound
from vaporforge.session.moves import apply, errors, settle
from vaporforge.session.record import SessionRecord
from vaporforge.session.states import Event, InvalidTransition, LoginMode, SessionState, transition
from vaporforge.session.store import WAKE, SessionStore
from vaporforge.session.warm import WarmStore

SHUTDOWN = "The worker running this login was stopped; start again."


class Ending(NamedTuple):
    """Why the owning worker ends its session: ``finish(store, sid, *ending)``."""

    event: Event
    code: ErrorCode
    message: str


class Turn(NamedTuple):
    """One wait for a code, as the worker must act on it: ``done`` (the session
    ended elsewhere, left in ``state``), else ``code`` to hand the CLI (None:
    wait again)."""

    done: bool
    state: SessionState | None
    code: str | None = None


def current(store: SessionStore, session_id: str) -> SessionRecord | None:
    """The session's record as it stands (None: gone)."""
    return store.get(session_id)


def ended(store: SessionStore, session_id: str) -> bool:
    """The session has ended (or is gone): its CLI has nothing left to do."""
    record = store.get(session_id)
    return record is None or record.state.terminal


def take(store: SessionStore, session_id: str, owner: str,
         heartbeat_ttl: int) -> SessionRecord | None:
    """The ``starting`` session, now owned by ``owner`` (its first heartbeat
    written in the same step); None when it is gone, already taken or ended.
    A session found past its expiry or its start bound is ended as it implies."""
    snapshot = store.read(session_id=session_id)
    seen = SessionState.STARTING
    if snapshot is None or snapshot.record.state is not seen:
        return None
    if settle(store, snapshot).state is not seen:
        return None
    to = transition(seen, Event.TAKEN)
    if not store.take(session_id=session_id, expect=seen, to=to, owner=owner,
                      heartbeat_ttl=heartbeat_ttl).taken:
        return None
    return replace(snapshot.record, owner=owner, state=to)


def publish_url(store: SessionStore, session_id: str, url: str) -> None:
    """``starting`` → ``awaiting_code``; raises SessionEnded if it ended meanwhile."""
    _step(store, session_id, Event.URL_PUBLISHED, SessionState.STARTING,
          fields={"oauth_url": url})


def reject_code(store: SessionStore, session_id: str, sentence: str) -> None:
    """``verifying`` → ``awaiting_code`` with the CLI's own sentence."""
    _step(store, session_id, Event.CODE_REJECTED, SessionState.VERIFYING,
          fields=errors(ErrorCode.INVALID_CODE, sentence))


def succeed(store: SessionStore, session_id: str, payload: str, ttl: int) -> SessionState:
    """``verifying`` → ``ready`` with the payload stored in the same step; returns
    the new state. If the session ended meanwhile, nothing is stored and
    SessionEnded is raised."""
    seen = SessionState.VERIFYING
    _step(store, session_id, Event.SUCCEEDED, seen, fields={**errors(), "oauth_url": ""},
          payload=payload, payload_ttl=ttl)
    return transition(seen, Event.SUCCEEDED)


def _step(store: SessionStore, session_id: str, event: Event, seen: SessionState,
          **options: Any) -> None:
    try:
        moved = apply(store, session_id, event, seen, **options)
    except (InvalidTransition, SessionNotFound):
        raise SessionEnded() from None
    if not moved.applied:
        raise SessionEnded()


def finish(store: SessionStore, session_id: str, event: Event, code: ErrorCode,
           message: str) -> SessionState | None:
    """The owning worker ends its own session (failure, time-out, expiry);
    returns the state the session is left in (None: the record is gone)."""
    try:
        apply(store, session_id, event, fields=errors(code, message))
    except InvalidTransition:
        pass  # ended elsewhere first: that ending stands
    except SessionNotFound:
        return None
    record = store.get(session_id)
    return record.state if record else None


def fail(store: SessionStore, session_id: str, code: ErrorCode,
         message: str) -> SessionState | None:
    """:func:`finish` with a failure ``code``."""
    return finish(store, session_id, Event.FAILED, code, message)


def wait_ending(record: SessionRecord, *, now: float, wait_until: float,
                shutting_down: bool) -> Ending | None:
    """Whether the worker waiting for a code must end its session now: past its
    expiry, past the wait for a code, or the worker drains; None: wait on."""
    if now >= record.expires_at:
        return Ending(Event.EXPIRED, ErrorCode.EXPIRED, "The login session expired.")
    if now >= wait_until:
        return Ending(Event.FAILED, ErrorCode.TIMEOUT, "No code was pasted in time.")
    if shutting_down:
        return Ending(Event.FAILED, ErrorCode.WORKER_SHUTDOWN, SHUTDOWN)
    return None


def next_code(store: SessionStore, session_id: str, timeout: float) -> Turn:
    """Wait up to ``timeout`` s for a code, then say what the worker does: stop
    (the session ended elsewhere), hand the CLI a code (the session is
    ``verifying``), or wait again (a wake-up, or a stale code for an attempt
    already answered)."""
    item = store.wait_code(session_id, timeout)
    record = store.get(session_id)
    if record is None or record.state.terminal:
        return Turn(True, record.state if record else None)
    if item is None or item == WAKE or record.state is not SessionState.VERIFYING:
        return Turn(False, record.state)
    return Turn(False, record.state, item)


def when_ended(store: SessionStore, session_id: str, *,
               shutting_down: bool) -> SessionState | None:
    """The CLI found its session ended (SessionEnded): a draining worker records
    ``worker_shutdown``; otherwise the ending recorded elsewhere stands."""
    if shutting_down:
        return fail(store, session_id, ErrorCode.WORKER_SHUTDOWN, SHUTDOWN)
    record = store.get(session_id)
    return record.state if record else None


def withdraw_entry(warm: WarmStore, entry_id: str, mode: LoginMode) -> bool:
    """Take back a warm entry; False when a session bound it first."""
    return warm.withdraw(entry_id=entry_id, mode=mode).withdrawn


def withdraw_due(*, age: float, max_age: float, shutting_down: bool, cli_alive: bool) -> bool:
    """Whether an offered warm entry must be withdrawn: too old, its CLI died,
    or the worker drains."""
    return shutting_down or not cli_alive or age >= max_age
