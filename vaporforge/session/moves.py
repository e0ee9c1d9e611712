"""The one way a session moves on an event, and the endings every side records.

:func:`apply` computes the target with :func:`transition` from the state the
caller saw (or reads now) and applies it as one compare-and-set step,
retrying while other processes move the session first.
"""

from __future__ import annotations

from typing import Any

from vaporforge import defaults
from vaporforge.errors import ErrorCode, SessionNotFound
from vaporforge.session import announce
from vaporforge.session.record import Moved, SessionRecord, Snapshot
from vaporforge.session.states import (
    Event,
    InvalidTransition,
    SessionState,
    implied_event,
    transition,
)
from vaporforge.session.store import WAKE, SessionStore

RACES = 8
"""How often one step is retried when other processes keep moving the session."""


def errors(code: ErrorCode | str = "", message: str = "") -> dict[str, str]:
    """The record's error fields (both empty: the error is cleared)."""
    return {"error_code": str(code), "error_message": message}


def apply(store: SessionStore, session_id: str, event: Event,
          seen: SessionState | None = None, **options: Any) -> Moved:
    """Apply ``event`` from the state the caller saw (or reads now), retrying while
    other processes move the session first. Raises InvalidTransition when the
    event does not apply to the state found, SessionNotFound when it is gone."""
    state = seen
    for _ in range(RACES):
        if state is None:
            snapshot = store.read(session_id=session_id)
            if snapshot is None:
                raise SessionNotFound()
            state = snapshot.record.state
        to = transition(state, event)
        moved = store.move(session_id=session_id, expect=state, to=to, **options)
        if moved.applied:
            announce.reached(store, session_id, to,
                             (options.get("fields") or {}).get("error_code", ""))
        if moved.applied or moved.over_cap or moved.state == state:
            return moved
        if moved.state is None:
            raise SessionNotFound()
        state = moved.state
    assert state is not None
    raise InvalidTransition(state, event)


def end(store: SessionStore, session_id: str, event: Event, code: ErrorCode | str = "",
        message: str = "", seen: SessionState | None = None,
        only_without_heartbeat: bool = False) -> bool:
    """End a session from outside its worker and wake that worker; False when
    the session had already ended, is gone, or (``only_without_heartbeat``) its
    worker still beats."""
    try:
        moved = apply(store, session_id, event, seen, fields=errors(code, message),
                      only_without_heartbeat=only_without_heartbeat, push=WAKE,
                      push_ttl=defaults.WAKE_TTL)
    except (InvalidTransition, SessionNotFound):
        return False
    return moved.applied


def settle(store: SessionStore, snapshot: Snapshot) -> SessionRecord:
    """Record what a session's silent owner can no longer say (expiry, a lost
    worker, a lapsed payload), only if the session is still as ``snapshot``
    saw it; return the session as it now stands."""
    for _ in range(RACES):
        record = snapshot.record
        implied = implied_event(
            record.state, now=store.now(), expires_at=record.expires_at,
            owned=bool(record.owner), heartbeat_alive=snapshot.heartbeat_alive,
            payload_present=snapshot.payload_present, start_by=record.start_by,
            idle_timeout=record.idle_timeout,
            last_seen=max(record.polled_at, record.updated_at))
        if implied is None:
            return record
        event, code, message = implied
        end(store, record.session_id, event, code, message, seen=record.state,
            only_without_heartbeat=code is ErrorCode.WORKER_LOST)
        fresh = store.read(session_id=record.session_id)
        if fresh is None:
            raise SessionNotFound()
        snapshot = fresh
    return snapshot.record
