"""The session lifecycle: every rule that moves or ends a session.

The API, the worker and the reaper call these functions; none of them decides
an ending on its own. Each function is one atomic step in the store (a
compare-and-set on the state the caller saw, retried when another process moved
the session first), so:

- a payload is stored only in the step that makes the session ``ready``, and
  dropped only in a step that really ended the session without a claim;
- an observer's conclusion (expiry, a lost worker, a lapsed payload) is
  recorded only if the session is still as the observer saw it;
- an ending decided outside the owning worker wakes that worker, so it stops
  the CLI at once.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from vaporforge import defaults
from vaporforge.errors import BrokerError, ErrorCode, SessionEnded
from vaporforge.states import (
    Event,
    InvalidTransition,
    SessionState,
    implied_event,
    transition,
)
from vaporforge.store import WAKE, Moved, SessionRecord, SessionStore, Snapshot

_RACES = 8
"""How often one step is retried when other processes keep moving the session."""


class SessionNotFound(BrokerError):
    code = ErrorCode.NOT_FOUND
    message = "No such session, or the session token does not match."


class AtCapacity(BrokerError):
    code = ErrorCode.AT_CAPACITY
    message = "The broker is running as many logins as it can; try again shortly."
    headers = {"Retry-After": str(defaults.AT_CAPACITY_RETRY_AFTER)}


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def create(store: SessionStore, record: SessionRecord, max_sessions: int, *,
           warm: bool = False, heartbeat_ttl: int = defaults.HEARTBEAT_TTL) -> SessionRecord:
    """Admission and creation in one step; raises :class:`AtCapacity` beyond
    ``max_sessions`` or the live workers' summed capacity. With ``warm``, the
    session takes a warm entry of its mode in the same step when one waits, and
    is returned ``awaiting_code`` with that CLI's URL; otherwise ``starting``."""
    created = store.create(record, max_sessions, warm=warm, heartbeat_ttl=heartbeat_ttl)
    if created is None:
        raise AtCapacity()
    if not created.place_id:
        return record
    return replace(record, state=SessionState.AWAITING_CODE, oauth_url=created.oauth_url,
                   place_id=created.place_id)


def _move(store: SessionStore, session_id: str, event: Event,
          seen: SessionState | None = None, **options: object) -> Moved:
    """Apply ``event`` from the state the caller saw (or reads now), retrying while
    other processes move the session first. Raises InvalidTransition when the
    event does not apply to the state found, SessionNotFound when it is gone."""
    state = seen
    for _ in range(_RACES):
        if state is None:
            snapshot = store.read(session_id)
            if snapshot is None:
                raise SessionNotFound()
            state = snapshot.record.state
        moved = store.move(session_id, state, transition(state, event), **options)  # type: ignore[arg-type]
        if moved.applied or moved.over_cap or moved.state == state:
            return moved
        if moved.state is None:
            raise SessionNotFound()
        state = moved.state
    assert state is not None
    raise InvalidTransition(state, event)


def _errors(code: ErrorCode | str = "", message: str = "") -> dict[str, str]:
    return {"error_code": str(code), "error_message": message}


# -- the owning worker ------------------------------------------------------------
def take(store: SessionStore, session_id: str, owner: str,
         heartbeat_ttl: int) -> SessionRecord | None:
    """The ``starting`` session, now owned by ``owner`` (its first heartbeat
    written in the same step); None when it is gone, already taken or ended.
    A session found past its expiry or its start bound is ended as it implies."""
    snapshot = store.read(session_id)
    if snapshot is None or snapshot.record.state is not SessionState.STARTING:
        return None
    if settle(store, snapshot).state is not SessionState.STARTING:
        return None
    if not store.take(session_id, owner, heartbeat_ttl):
        return None
    return replace(snapshot.record, owner=owner)


def publish_url(store: SessionStore, session_id: str, url: str) -> None:
    """``starting`` → ``awaiting_code``; raises SessionEnded if it ended meanwhile."""
    _worker_step(store, session_id, Event.URL_PUBLISHED, SessionState.STARTING,
                 fields={"oauth_url": url})


def reject_code(store: SessionStore, session_id: str, sentence: str) -> None:
    """``verifying`` → ``awaiting_code`` with the CLI's own sentence."""
    _worker_step(store, session_id, Event.CODE_REJECTED, SessionState.VERIFYING,
                 fields=_errors(ErrorCode.INVALID_CODE, sentence))


def succeed(store: SessionStore, session_id: str, payload: str, ttl: int) -> None:
    """``verifying`` → ``ready`` with the payload stored in the same step. If the
    session ended meanwhile, nothing is stored and SessionEnded is raised."""
    _worker_step(store, session_id, Event.SUCCEEDED, SessionState.VERIFYING,
                 fields={**_errors(), "oauth_url": ""}, payload=payload, payload_ttl=ttl)


def _worker_step(store: SessionStore, session_id: str, event: Event, seen: SessionState,
                 **options: object) -> None:
    try:
        moved = _move(store, session_id, event, seen, **options)
    except (InvalidTransition, SessionNotFound):
        raise SessionEnded() from None
    if not moved.applied:
        raise SessionEnded()


def finish(store: SessionStore, session_id: str, event: Event, code: ErrorCode,
           message: str) -> SessionState | None:
    """The owning worker ends its own session (failure, time-out, expiry);
    returns the state the session is left in (None: the record is gone)."""
    try:
        _move(store, session_id, event, fields=_errors(code, message))
    except InvalidTransition:
        pass  # ended elsewhere first: that ending stands
    except SessionNotFound:
        return None
    record = store.get(session_id)
    return record.state if record else None


# -- outside the worker: the API and the reaper -------------------------------------
def end(store: SessionStore, session_id: str, event: Event, code: ErrorCode | str = "",
        message: str = "", seen: SessionState | None = None,
        only_without_heartbeat: bool = False) -> bool:
    """End a session from outside its worker and wake that worker; False when
    the session had already ended, is gone, or (``only_without_heartbeat``) its
    worker still beats."""
    try:
        moved = _move(store, session_id, event, seen, fields=_errors(code, message),
                      only_without_heartbeat=only_without_heartbeat, push=WAKE,
                      push_ttl=defaults.CODE_POLL_INTERVAL * 5)
    except (InvalidTransition, SessionNotFound):
        return False
    return moved.applied


def cancel(store: SessionStore, session_id: str) -> None:
    """``DELETE``: end the session (a no-op once it has ended)."""
    end(store, session_id, Event.CANCELLED)


def settle(store: SessionStore, snapshot: Snapshot) -> SessionRecord:
    """Record what a session's silent owner can no longer say (expiry, a lost
    worker, a lapsed payload), only if the session is still as ``snapshot``
    saw it; return the session as it now stands."""
    for _ in range(_RACES):
        record = snapshot.record
        implied = implied_event(
            record.state, now=store.now(), expires_at=record.expires_at,
            owned=bool(record.owner), heartbeat_alive=snapshot.heartbeat_alive,
            payload_present=snapshot.payload_present, start_by=record.start_by)
        if implied is None:
            return record
        event, code, message = implied
        end(store, record.session_id, event, code, message, seen=record.state,
            only_without_heartbeat=code is ErrorCode.WORKER_LOST)
        fresh = store.read(record.session_id)
        if fresh is None:
            raise SessionNotFound()
        snapshot = fresh
    return snapshot.record


def submit_code(store: SessionStore, session_id: str, code: str, *, max_attempts: int,
                code_ttl: float) -> None:
    """``awaiting_code`` → ``verifying``, counting the attempt and handing the code
    to the owning worker in the same step. Beyond ``max_attempts`` the session
    fails with ``too_many_attempts``."""
    moved = store.move(session_id, SessionState.AWAITING_CODE, SessionState.VERIFYING,
                       fields=_errors(), attempt_cap=max_attempts, push=code,
                       push_ttl=code_ttl)
    if moved.over_cap:
        end(store, session_id, Event.FAILED, ErrorCode.TOO_MANY_ATTEMPTS,
            "Too many codes were tried; start again.", seen=SessionState.AWAITING_CODE)
        raise BrokerError(f"Only {max_attempts} codes may be tried per session; this "
                          "session has ended.", code=ErrorCode.TOO_MANY_ATTEMPTS)
    if moved.state is None:
        raise SessionNotFound()
    if not moved.applied:
        raise BrokerError(f"This session is not waiting for a code (it is "
                          f"{moved.state.value}).", code=ErrorCode.INVALID_STATE)


def claim(store: SessionStore, session_id: str) -> str:
    """The credential payload, exactly once; otherwise the reason it is not given."""
    payload = store.claim(session_id)
    if payload is not None:
        return payload
    snapshot = store.read(session_id)
    if snapshot is None:
        raise SessionNotFound()
    record = settle(store, snapshot)
    if record.state is SessionState.CLAIMED:
        raise BrokerError("The credentials were already handed out.",
                          code=ErrorCode.ALREADY_CLAIMED)
    if record.state is SessionState.EXPIRED:
        raise BrokerError(record.error_message or "The login session expired.",
                          code=ErrorCode.EXPIRED)
    if record.state.terminal:
        raise BrokerError(f"This session ended without credentials ({record.state.value}).",
                          code=ErrorCode.INVALID_STATE)
    raise BrokerError("The credentials are not ready yet.", code=ErrorCode.NOT_READY)
