"""Reading a session back in tests: the one ``state_of`` and ``record_of``
(the ``store`` fixture that goes with them is in ``tests/conftest.py``)."""

from __future__ import annotations

from vaporforge.session.record import SessionRecord
from vaporforge.session.states import SessionState
from vaporforge.session.store import SessionStore


def record_of(store: SessionStore, sid: str) -> SessionRecord:
    """The session's record; the test fails if it is gone."""
    record = store.get(sid)
    assert record is not None, f"session {sid} is gone"
    return record


def state_of(store: SessionStore, sid: str) -> SessionState:
    """The session's state (:func:`record_of`)."""
    return record_of(store, sid).state
