"""The session lifecycle: every rule that moves or ends a session.

The API, the worker and the reaper call these functions; none of them decides
a state on its own, and none calls a store step (create, read, move, claim,
take, bind, withdraw) but through here. Each step is atomic in the store (a
compare-and-set on the state the caller saw, its target computed by
:func:`transition`, retried when another process moved the session first), so:

- a payload is stored only in the step that makes the session ``ready``, and
  dropped only in a step that really ended the session without a claim;
- an observer's conclusion (expiry, a lost worker, a lapsed payload) is
  recorded only if the session is still as the observer saw it;
- an ending decided outside the owning worker wakes that worker, so it stops
  the CLI at once.

The owning worker's steps are in :mod:`vaporforge.session.owning` and are
named here too: callers use ``lifecycle.<step>`` for every step.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from vaporforge import defaults
from vaporforge.access import user_digest
from vaporforge.errors import (
    AlreadyClaimed,
    AtCapacity,
    ErrorCode,
    InvalidState,
    NotReady,
    QueueUnreachable,
    SessionExpired,
    SessionNotFound,
    TooManyAttempts,
)
from vaporforge.session import announce
from vaporforge.session.moves import end, errors, settle
from vaporforge.session.owning import (
    Ending,
    Turn,
    current,
    ended,
    fail,
    finish,
    next_code,
    publish_url,
    reject_code,
    succeed,
    take,
    wait_ending,
    when_ended,
    withdraw_due,
    withdraw_entry,
)
from vaporforge.session.record import SessionRecord, Snapshot, WindowCounter
from vaporforge.session.states import Event, LoginMode, SessionState, transition
from vaporforge.session.store import SessionStore
from vaporforge.session.warm import WarmStore

__all__ = ["AtCapacity", "Ending", "SessionNotFound", "Turn", "cancel", "claim", "create",
           "current", "end", "ended", "fail", "finish", "new_session_id", "next_code",
           "observe", "publish_url", "reject_code", "revoke", "settle", "start", "submit_code",
           "succeed", "sweep", "take", "wait_ending", "when_ended", "withdraw_due",
           "withdraw_entry"]


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def create(store: SessionStore, *, mode: LoginMode, token_hash: str, session_ttl: int,
           start_timeout: int, max_sessions: int, client_key: str = "",
           session_id: str = "", warm: bool = False,
           heartbeat_ttl: int = defaults.HEARTBEAT_TTL, host: str = "", end_user: str = "",
           idle_timeout: int = 0) -> SessionRecord:
    """A new ``starting`` session, expiring ``session_ttl`` s from now and failing
    ``not_started`` unless a worker takes it within ``start_timeout`` s (0: no
    bound). Admission is one step; raises :class:`AtCapacity` beyond
    ``max_sessions`` or the live workers' summed capacity. With ``warm``, the
    session then takes a warm entry of its mode when one waits, and is returned
    ``awaiting_code`` with that CLI's URL (until then it is ``starting``).

    A host's user (``host``, ``end_user``) has one live login at most: the one
    this creation replaces ends ``cancelled``/``superseded`` and its CLI stops.
    ``idle_timeout`` (0: none): ``awaiting_code`` ends ``abandoned`` when the
    token holder has not polled for that long. The host hears ``login.created``."""
    now = store.now()
    record = SessionRecord(
        session_id=session_id or new_session_id(), mode=mode, state=SessionState.STARTING,
        token_hash=token_hash, created_at=now, expires_at=now + session_ttl, updated_at=now,
        client_key=client_key, start_by=now + start_timeout if start_timeout else 0,
        host=host, end_user=end_user, idle_timeout=idle_timeout)
    if not store.create(record=record, max_sessions=max_sessions).created:
        raise AtCapacity()
    announce.created(store, record)
    if host:
        older = store.swap_user_login(user_digest(host, end_user), record.session_id,
                                      session_ttl + defaults.RECORD_GRACE)
        if older:
            end(store, older, Event.CANCELLED, ErrorCode.SUPERSEDED,
                "A newer login of the same user replaced this one.")
    if not warm:
        return record
    to = transition(record.state, Event.BOUND)
    bound = WarmStore(store).bind(session_id=record.session_id, mode=mode,
                                  expect=record.state, to=to, heartbeat_ttl=heartbeat_ttl)
    if not bound.place_id:
        return record
    return replace(record, state=to, oauth_url=bound.oauth_url, place_id=bound.place_id)


def revoke(store: SessionStore, host: str, end_user: str, session_id: str = "") -> list[str]:
    """The host disconnected its user: the user's live login (only if it is
    ``session_id``, when given) ends ``cancelled``/``revoked`` and its CLI stops,
    as a superseded one does; returns the ids of the logins it ended."""
    live = store.user_login(user_digest(host, end_user))
    if not live or (session_id and live != session_id):
        return []
    ended_now = end(store, live, Event.CANCELLED, ErrorCode.REVOKED,
                    "The host app disconnected this user.")
    return [live] if ended_now else []


def start(store: SessionStore, record: SessionRecord, send: Callable[[str], None]) -> None:
    """Have a worker start the CLI of a new session that took no warm entry:
    ``send(session_id)`` queues its task. When ``send`` raises
    :class:`QueueUnreachable`, the session fails ``unavailable`` and that error
    is raised on."""
    if record.state is not SessionState.STARTING:
        return  # bound to a warm entry: its worker already runs the CLI
    try:
        send(record.session_id)
    except QueueUnreachable:
        end(store, record.session_id, Event.FAILED, ErrorCode.UNAVAILABLE,
            "The task queue is not reachable.")
        raise


def observe(store: SessionStore, session_id: str, *, count: WindowCounter | None = None,
            token_hash: str = "") -> Snapshot | None:
    """The session as one read sees it (None: gone); with ``count``, that
    per-session counter is stepped in the same read for the holder of
    ``token_hash``. Nothing is settled: see :func:`settle`."""
    return store.read(session_id=session_id, count=count, token_hash=token_hash)


def cancel(store: SessionStore, session_id: str) -> None:
    """``DELETE``: end the session (a no-op once it has ended)."""
    end(store, session_id, Event.CANCELLED)


def submit_code(store: SessionStore, session_id: str, code: str, *, max_attempts: int,
                code_ttl: float) -> SessionState:
    """``awaiting_code`` → ``verifying``, counting the attempt and handing the code
    to the owning worker in the same step; returns the new state. Beyond
    ``max_attempts`` the session fails with ``too_many_attempts``."""
    seen = SessionState.AWAITING_CODE
    to = transition(seen, Event.CODE_SUBMITTED)
    moved = store.move(session_id=session_id, expect=seen, to=to, fields=errors(),
                       attempt_cap=max_attempts, push=code, push_ttl=code_ttl)
    if moved.over_cap:
        end(store, session_id, Event.FAILED, ErrorCode.TOO_MANY_ATTEMPTS,
            "Too many codes were tried; start again.", seen=seen)
        raise TooManyAttempts(f"Only {max_attempts} codes may be tried per session; this "
                              "session has ended.")
    if moved.state is None:
        raise SessionNotFound()
    if not moved.applied:
        raise InvalidState(f"This session is not waiting for a code (it is "
                           f"{moved.state.value}).")
    return to


def claim(store: SessionStore, session_id: str) -> str:
    """The credential payload, exactly once; otherwise the reason it is not given."""
    seen = SessionState.READY
    claimed = store.claim(session_id=session_id, expect=seen,
                          to=transition(seen, Event.CLAIMED))
    if claimed.payload is not None:
        announce.reached(store, session_id, SessionState.CLAIMED)
        return claimed.payload
    snapshot = store.read(session_id=session_id)
    if snapshot is None:
        raise SessionNotFound()
    record = settle(store, snapshot)
    if record.state is SessionState.CLAIMED:
        raise AlreadyClaimed()
    if record.state is SessionState.EXPIRED:
        raise SessionExpired(record.error_message or None)
    if record.state.terminal:
        raise InvalidState(f"This session ended without credentials ({record.state.value}).")
    raise NotReady()


def sweep(store: SessionStore) -> int:
    """The reaper's pass: settle every live session (expiry, lost workers) and
    forget the ids whose record is gone; returns how many changed state."""
    settled = 0
    for session_id in store.live_session_ids():
        snapshot = store.read(session_id=session_id)
        try:
            if snapshot is None:
                raise SessionNotFound()
            settled += settle(store, snapshot).state is not snapshot.record.state
        except SessionNotFound:
            store.forget_live(session_id)
    return settled
