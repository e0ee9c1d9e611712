"""What the host hears about its users' logins: one event per lifecycle step
that creates, readies, hands out or ends a session, whoever decided it (the
API, the owning worker, a reaper).

The sink is the store's (:attr:`SessionStore.events`, passed in where the
store is made). Only the steps that really applied announce: a move that lost
its compare-and-set to another process announces nothing, so each ending is
heard once.
"""

from __future__ import annotations

from vaporforge.events import EventType, Subject
from vaporforge.session.record import SessionRecord
from vaporforge.session.states import SessionState
from vaporforge.session.store import SessionStore

EVENT_OF_STATE = {
    SessionState.READY: EventType.LOGIN_READY,
    SessionState.CLAIMED: EventType.LOGIN_CLAIMED,
    SessionState.FAILED: EventType.LOGIN_FAILED,
    SessionState.EXPIRED: EventType.LOGIN_FAILED,  # the error code says which expiry
    SessionState.CANCELLED: EventType.LOGIN_CANCELLED,
}
"""Reaching these states is an event; the others (starting, awaiting_code,
verifying) are the login's own business."""


def subject_of(record: SessionRecord) -> Subject:
    return Subject(record.host, record.end_user, record.session_id, record.mode.value)


def created(store: SessionStore, record: SessionRecord) -> None:
    store.events.emit(EventType.LOGIN_CREATED, subject_of(record))


def reached(store: SessionStore, session_id: str, state: SessionState,
            error_code: str = "") -> None:
    """Announce that ``session_id`` just reached ``state`` (a no-op for states
    that are not events, or a record already gone)."""
    kind = EVENT_OF_STATE.get(state)
    if kind is None:
        return
    record = store.get(session_id)
    if record is not None:
        store.events.emit(kind, subject_of(record), error_code)
