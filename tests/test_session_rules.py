"""The host-authorised logins' session rules in the lifecycle, on the real Redis (no worker, no
CLI; tests/test_hosted_stack.py has the same rules with real workers):
one live login per host user, abandoned logins, and the events each step
announces through the store's sink."""

from __future__ import annotations

import pytest

from tests.support.recording_sink import RecordingSink
from vaporforge.errors import ErrorCode
from vaporforge.keys import rate_count_key
from vaporforge.session import lifecycle
from vaporforge.session.record import SessionRecord, WindowCounter
from vaporforge.session.states import Event, LoginMode, SessionState, implied_event
from vaporforge.session.store import SessionStore

URL = "https://claude.com/cai/oauth/authorize?code=true&state=x"
IDLE = 180


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def store(store_client, clock, sink) -> SessionStore:
    return SessionStore(store_client, "rules", clock=clock, events=sink)


def login(store: SessionStore, end_user: str = "u1", host: str = "acme") -> str:
    record = lifecycle.create(store, mode=LoginMode.OAUTH, token_hash="t" * 64,
                              session_ttl=900, start_timeout=30, max_sessions=100,
                              host=host, end_user=end_user, idle_timeout=IDLE)
    return record.session_id


def waiting(store: SessionStore, end_user: str = "u1") -> str:
    sid = login(store, end_user)
    assert lifecycle.take(store, sid, "w1", 15)
    lifecycle.publish_url(store, sid, URL)
    return sid


def state_of(store: SessionStore, sid: str) -> tuple[str, str]:
    record = store.get(sid)
    assert record is not None
    return record.state.value, record.error_code


def poll(store: SessionStore, sid: str) -> SessionRecord:
    """The token holder's poll: the read that steps its counter, then settle."""
    counter = WindowCounter(rate_count_key(store.prefix, "poll", sid), 60)
    snapshot = lifecycle.observe(store, sid, count=counter, token_hash="t" * 64)
    assert snapshot is not None
    return lifecycle.settle(store, snapshot)


def test_a_new_login_of_a_host_user_supersedes_the_live_one(store, sink):
    older = waiting(store)
    other_user = waiting(store, "u2")
    newer = login(store)
    assert state_of(store, older) == ("cancelled", "superseded")
    assert state_of(store, newer)[0] == "starting"
    assert state_of(store, other_user) == ("awaiting_code", "")
    assert store.wait_code(older, 0.1) is not None  # its worker was woken at once
    cancelled = [e for e in sink.events if e["type"] == "login.cancelled"]
    assert [(e["data"]["session_id"], e["data"]["error_code"]) for e in cancelled] == [
        (older, "superseded")]


def test_the_user_key_holds_neither_the_host_nor_the_user(store, store_client):
    login(store, "alice@example.com", host="acme")
    keys = store_client.keys("rules:user:*")
    assert len(keys) == 1 and "alice" not in keys[0] and "acme" not in keys[0]
    assert 0 < store_client.ttl(keys[0]) <= 900 + 300


def test_logins_without_a_host_do_not_supersede_each_other(store):
    first = lifecycle.create(store, mode=LoginMode.OAUTH, token_hash="t" * 64, session_ttl=900,
                             start_timeout=30, max_sessions=100).session_id
    login(store, "", host="")  # protected mode: no host, no user
    assert state_of(store, first)[0] == "starting"


def test_an_unpolled_login_is_abandoned_and_a_polled_one_is_not(store, clock, sink):
    idle, kept = waiting(store), waiting(store, "u2")
    clock.now += IDLE - 10
    assert poll(store, kept).state is SessionState.AWAITING_CODE
    clock.now += 10
    assert poll(store, kept).state is SessionState.AWAITING_CODE  # polled 10 s ago
    turn = lifecycle.next_code(store, idle, 0.1)  # the worker's own slice, nobody polling
    assert turn.done and turn.state is SessionState.FAILED
    assert state_of(store, idle) == ("failed", "abandoned")
    assert [e["data"]["error_code"] for e in sink.events if e["type"] == "login.failed"] == [
        "abandoned"]
    clock.now += IDLE
    assert lifecycle.next_code(store, kept, 0.1).done  # now it too went unpolled


def test_the_lifecycle_announces_each_step_once(store, sink):
    sid = waiting(store)
    lifecycle.submit_code(store, sid, "code#state", max_attempts=5, code_ttl=45)
    lifecycle.succeed(store, sid, '{"mode": "oauth"}', 120)
    assert lifecycle.claim(store, sid)
    lifecycle.cancel(store, sid)  # too late: nothing to announce
    assert [e["type"] for e in sink.events] == ["login.created", "login.ready", "login.claimed"]
    assert {e["data"]["end_user"] for e in sink.events} == {"u1"}


def test_an_expiry_is_a_failed_login_with_its_code(store, clock, sink):
    sid = waiting(store)
    lifecycle.end(store, sid, Event.EXPIRED, ErrorCode.EXPIRED, "expired")
    assert [(e["type"], e["data"]["error_code"]) for e in sink.events[1:]] == [
        ("login.failed", "expired")]


@pytest.mark.parametrize("last_seen, expected", [(0, ErrorCode.ABANDONED), (10, None)])
def test_the_states_table_implies_abandoned(last_seen, expected):
    implied = implied_event(SessionState.AWAITING_CODE, now=IDLE, expires_at=10_000,
                            owned=True, heartbeat_alive=True, payload_present=False,
                            idle_timeout=IDLE, last_seen=last_seen)
    assert (implied[1] if implied else None) == expected
    assert implied_event(SessionState.VERIFYING, now=IDLE, expires_at=10_000, owned=True,
                         heartbeat_alive=True, payload_present=False, idle_timeout=IDLE,
                         last_seen=0) is None  # a code under way is not abandoned
