"""The lifecycle rules as tables, and the races they close, on a real Redis."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.records import state_of
from vaporforge.errors import BrokerError, ErrorCode, QueueUnreachable, SessionEnded
from vaporforge.keys import KeyKind
from vaporforge.session import lifecycle
from vaporforge.session.record import SessionRecord, Snapshot
from vaporforge.session.states import Event, LoginMode, SessionState
from vaporforge.session.store import WAKE, SessionStore

S = SessionState
PAYLOAD = '{"mode": "oauth", "credentials": {}}'


def in_state(store: SessionStore, state: SessionState, sid: str = "s" * 22,
             ttl: int = 60, owner: str | None = "w") -> str:
    """A session put straight into ``state`` (with a payload when ``ready``)."""
    now = store.now()
    record = SessionRecord(sid, LoginMode.OAUTH, S.STARTING, "h" * 64, now, now + ttl)
    assert store.create(record=record, max_sessions=100).created
    if owner:
        assert store.take(session_id=sid, expect=S.STARTING, to=S.STARTING, owner=owner,
                          heartbeat_ttl=30).taken
    if state is not S.STARTING:
        payload = PAYLOAD if state in (S.READY, S.CLAIMED) else ""
        store.move(session_id=sid, expect=S.STARTING,
                   to=S.READY if state is S.CLAIMED else state, payload=payload,
                   payload_ttl=60)
    if state is S.CLAIMED:
        assert store.claim(session_id=sid, expect=S.READY, to=S.CLAIMED).payload == PAYLOAD
    return sid


@pytest.mark.parametrize(("state", "after"), [
    (S.STARTING, S.AWAITING_CODE), (S.AWAITING_CODE, None), (S.VERIFYING, None),
    (S.READY, None), (S.CLAIMED, None), (S.FAILED, None), (S.EXPIRED, None),
    (S.CANCELLED, None)])
def test_publish_url(store, state, after):
    sid = in_state(store, state)
    if after is None:
        with pytest.raises(SessionEnded):
            lifecycle.publish_url(store, sid, "https://claude.com/cai/oauth/authorize?x")
        assert state_of(store, sid) is state
    else:
        lifecycle.publish_url(store, sid, "https://claude.com/cai/oauth/authorize?x")
        assert store.get(sid).oauth_url.endswith("?x") and state_of(store, sid) is after


@pytest.mark.parametrize(("state", "error"), [
    (S.AWAITING_CODE, None), (S.STARTING, ErrorCode.INVALID_STATE),
    (S.VERIFYING, ErrorCode.INVALID_STATE), (S.READY, ErrorCode.INVALID_STATE),
    (S.CLAIMED, ErrorCode.INVALID_STATE), (S.FAILED, ErrorCode.INVALID_STATE),
    (S.CANCELLED, ErrorCode.INVALID_STATE)])
def test_submit_code(store, state, error):
    sid = in_state(store, state)
    if error is None:
        lifecycle.submit_code(store, sid, "abc#def", max_attempts=5, code_ttl=10)
        assert state_of(store, sid) is S.VERIFYING
        assert store.wait_code(sid, 0.1) == "abc#def"
        return
    with pytest.raises(BrokerError) as refused:
        lifecycle.submit_code(store, sid, "abc#def", max_attempts=5, code_ttl=10)
    assert refused.value.code is error
    assert state_of(store, sid) is state
    assert store.wait_code(sid, 0.05) is None


def test_the_code_after_the_cap_fails_the_session_and_wakes_its_worker(store):
    sid = in_state(store, S.AWAITING_CODE)
    for _ in range(2):
        lifecycle.submit_code(store, sid, "abc", max_attempts=2, code_ttl=10)
        assert store.wait_code(sid, 0.1) == "abc"
        lifecycle.reject_code(store, sid, "Invalid code.")
    with pytest.raises(BrokerError) as refused:
        lifecycle.submit_code(store, sid, "abc", max_attempts=2, code_ttl=10)
    assert refused.value.code is ErrorCode.TOO_MANY_ATTEMPTS
    record = store.get(sid)
    assert (record.state, record.error_code) == (S.FAILED, "too_many_attempts")
    assert store.wait_code(sid, 0.1) == WAKE


@pytest.mark.parametrize("state", list(S))
def test_reject_code_and_succeed_apply_only_while_verifying(store, state):
    sid = in_state(store, state, owner=None)
    had_payload = store.read(session_id=sid).payload_present
    for step in (lambda: lifecycle.reject_code(store, sid, "Invalid code."),
                 lambda: lifecycle.succeed(store, sid, PAYLOAD, 30)):
        if state is not S.VERIFYING:
            with pytest.raises(SessionEnded):
                step()
            snapshot = store.read(session_id=sid)
            assert snapshot.record.state is state
            assert snapshot.payload_present is had_payload  # never stored by a refused step
    if state is S.VERIFYING:
        lifecycle.reject_code(store, sid, "Invalid code.")
        assert store.get(sid).error_code == "invalid_code"
        store.move(session_id=sid, expect=S.AWAITING_CODE, to=S.VERIFYING)
        lifecycle.succeed(store, sid, PAYLOAD, 30)
        snapshot = store.read(session_id=sid)
        assert snapshot.record.state is S.READY and snapshot.payload_present
        assert snapshot.record.error_code == ""


@pytest.mark.parametrize(("state", "after"), [
    (S.STARTING, S.FAILED), (S.AWAITING_CODE, S.FAILED), (S.VERIFYING, S.FAILED),
    (S.READY, S.READY), (S.CLAIMED, S.CLAIMED), (S.EXPIRED, S.EXPIRED),
    (S.CANCELLED, S.CANCELLED)])
def test_finish_ends_only_live_sessions(store, state, after):
    sid = in_state(store, state)
    assert lifecycle.finish(store, sid, Event.FAILED, ErrorCode.TIMEOUT, "x") is after


@pytest.mark.parametrize(("state", "after", "woken"), [
    (S.STARTING, S.CANCELLED, True), (S.AWAITING_CODE, S.CANCELLED, True),
    (S.VERIFYING, S.CANCELLED, True), (S.READY, S.CANCELLED, True),
    (S.CLAIMED, S.CLAIMED, False), (S.FAILED, S.FAILED, False)])
def test_cancel(store, state, after, woken):
    sid = in_state(store, state)
    lifecycle.cancel(store, sid)
    snapshot = store.read(session_id=sid)
    assert snapshot.record.state is after
    assert not snapshot.payload_present or after is S.READY
    assert (store.wait_code(sid, 0.05) == WAKE) is woken


@pytest.mark.parametrize(("state", "ttl", "beating", "after", "code"), [
    (S.STARTING, 60, True, S.STARTING, ""),
    (S.AWAITING_CODE, 60, True, S.AWAITING_CODE, ""),
    (S.AWAITING_CODE, 60, False, S.FAILED, "worker_lost"),
    (S.VERIFYING, 60, False, S.FAILED, "worker_lost"),
    (S.AWAITING_CODE, -1, True, S.EXPIRED, "expired"),
    (S.READY, 60, False, S.READY, ""),
    (S.READY, -1, False, S.EXPIRED, "expired"),
    (S.FAILED, -1, False, S.FAILED, ""),
])
def test_settle(store, state, ttl, beating, after, code):
    sid = in_state(store, state, ttl=ttl)
    if not beating:
        store.drop_heartbeat(sid)
    record = lifecycle.settle(store, store.read(session_id=sid))
    assert (record.state, record.error_code) == (after, code)


def test_settle_a_ready_session_whose_payload_lapsed(store, store_client):
    sid = in_state(store, S.READY)
    store_client.delete(store.key(KeyKind.PAYLOAD, sid))
    record = lifecycle.settle(store, store.read(session_id=sid))
    assert (record.state, record.error_code) == (S.EXPIRED, "credentials_expired")


def test_a_session_nobody_took_is_not_lost(store):
    sid = in_state(store, S.STARTING, owner=None)
    assert lifecycle.settle(store, store.read(session_id=sid)).state is S.STARTING


@pytest.mark.parametrize(("state", "code"), [
    (S.AWAITING_CODE, ErrorCode.NOT_READY), (S.CLAIMED, ErrorCode.ALREADY_CLAIMED),
    (S.FAILED, ErrorCode.INVALID_STATE), (S.CANCELLED, ErrorCode.INVALID_STATE)])
def test_claim_refusals(store, state, code):
    sid = in_state(store, state)
    with pytest.raises(BrokerError) as refused:
        lifecycle.claim(store, sid)
    assert refused.value.code is code


def test_a_lapsed_payload_is_expired_on_claim(store, store_client):
    sid = in_state(store, S.READY)
    store_client.delete(store.key(KeyKind.PAYLOAD, sid))
    with pytest.raises(BrokerError) as refused:
        lifecycle.claim(store, sid)
    assert refused.value.code is ErrorCode.EXPIRED
    assert store.get(sid).error_code == "credentials_expired"


# -- the races: each interleaving forced, nothing lost ---------------------------------
def test_a_poll_that_saw_verifying_before_the_worker_finished_keeps_the_credentials(store):
    """Defect 1: a poll reads `verifying`; meanwhile the worker moves the session
    to `ready` and drops its heartbeat; the poll then sees no heartbeat. The
    stale view must not end the session or drop the payload."""
    sid = in_state(store, S.VERIFYING)
    seen = store.read(session_id=sid)
    assert seen.record.state is S.VERIFYING and seen.heartbeat_alive
    lifecycle.succeed(store, sid, PAYLOAD, 30)  # the worker, between the poll's reads
    store.drop_heartbeat(sid)
    stale = dataclasses.replace(seen, heartbeat_alive=False)
    assert lifecycle.settle(store, stale).state is S.READY
    assert lifecycle.claim(store, sid) == PAYLOAD


def test_a_worker_that_beats_again_is_not_declared_lost(store):
    sid = in_state(store, S.AWAITING_CODE)
    stale = Snapshot(store.get(sid), heartbeat_alive=False, payload_present=False)
    assert lifecycle.settle(store, stale).state is S.AWAITING_CODE


def test_a_code_sent_over_the_cap_after_the_login_finished_keeps_the_credentials(store):
    """Defect 1, second path: a code request that saw `awaiting_code` arrives
    over the attempt cap after the worker finished; the session stays ready."""
    sid = in_state(store, S.READY)
    store.redis.hset(store.key(KeyKind.SESSION, sid), "attempts", 5)
    with pytest.raises(BrokerError) as refused:
        lifecycle.submit_code(store, sid, "abc#def", max_attempts=5, code_ttl=10)
    assert refused.value.code is ErrorCode.INVALID_STATE
    assert lifecycle.claim(store, sid) == PAYLOAD


def test_taking_a_vanished_session_leaves_no_key(store, store_client):
    """Defect 2: a session hash gone between the read and the take (a Redis
    restart, an eviction) is not recreated as a hash without a TTL."""
    sid = in_state(store, S.STARTING, owner=None)
    store_client.delete(store.key(KeyKind.SESSION, sid))
    assert not store.take(session_id=sid, expect=S.STARTING, to=S.STARTING, owner="w",
                          heartbeat_ttl=5).taken
    assert lifecycle.take(store, sid, "w", 5) is None
    assert [key for key in store_client.scan_iter() if store_client.ttl(key) == -1] == []
    assert not store_client.exists(store.key(KeyKind.SESSION, sid))


def test_take_ends_a_session_found_past_its_expiry(store):
    sid = in_state(store, S.STARTING, ttl=-1, owner=None)
    assert lifecycle.take(store, sid, "w", 5) is None
    assert store.get(sid).state is S.EXPIRED


def test_admission_refuses_beyond_capacity_in_one_step(store):
    in_state(store, S.STARTING, "a" * 22)
    new = {"session_id": "b" * 22, "mode": LoginMode.OAUTH, "token_hash": "h",
           "session_ttl": 60, "start_timeout": 0}
    with pytest.raises(lifecycle.AtCapacity):
        lifecycle.create(store, **new, max_sessions=1)
    lifecycle.create(store, **new, max_sessions=2)


def test_start_sends_the_task_once_and_a_queue_it_cannot_reach_fails_the_session(store):
    sent: list[str] = []
    record = lifecycle.create(store, mode=LoginMode.OAUTH, token_hash="h", session_ttl=60,
                              start_timeout=30, max_sessions=5)
    assert record.start_by == record.created_at + 30 and record.state is S.STARTING
    lifecycle.start(store, record, sent.append)
    assert sent == [record.session_id]

    def unreachable(sid: str) -> None:
        raise QueueUnreachable()

    other = lifecycle.create(store, mode=LoginMode.OAUTH, token_hash="h", session_ttl=60,
                             start_timeout=30, max_sessions=5)
    with pytest.raises(QueueUnreachable):
        lifecycle.start(store, other, unreachable)
    ended = store.get(other.session_id)
    assert (ended.state, ended.error_code) == (S.FAILED, "unavailable")


def test_start_sends_nothing_for_a_session_bound_to_a_warm_entry(store):
    record = dataclasses.replace(lifecycle.create(
        store, mode=LoginMode.OAUTH, token_hash="h", session_ttl=60, start_timeout=30,
        max_sessions=5), state=S.AWAITING_CODE)
    lifecycle.start(store, record, lambda sid: pytest.fail("sent a task"))


@pytest.mark.parametrize(("now", "shutting_down", "expected"), [
    (100, False, None),
    (150, False, (Event.EXPIRED, ErrorCode.EXPIRED)),       # past the session's expiry
    (130, False, (Event.FAILED, ErrorCode.TIMEOUT)),        # past the wait for a code
    (100, True, (Event.FAILED, ErrorCode.WORKER_SHUTDOWN)),  # the worker drains
    (150, True, (Event.EXPIRED, ErrorCode.EXPIRED)),
])
def test_when_the_waiting_worker_stops(now, shutting_down, expected):
    record = SessionRecord("s" * 22, LoginMode.OAUTH, S.AWAITING_CODE, "h", 0, 150)
    ending = lifecycle.wait_ending(record, now=now, wait_until=130, shutting_down=shutting_down)
    assert (ending[:2] if ending else None) == expected
