"""SessionStore against a real redis-server."""

from __future__ import annotations

import threading

import pytest

from vaporforge.keys import KeyKind, key_for
from vaporforge.states import Event, InvalidTransition, LoginMode, SessionState
from vaporforge.store import WAKE, SessionNotFound, SessionRecord, SessionStore


@pytest.fixture
def store(store_client):
    store_client.flushdb()
    return SessionStore(store_client, "unit")


def make(store: SessionStore, sid: str = "s" * 22, ttl: int = 60) -> SessionRecord:
    now = store.now()
    record = SessionRecord(sid, LoginMode.OAUTH, SessionState.STARTING, "h" * 64, now, now + ttl)
    store.create(record)
    return record


def test_round_trip_and_every_key_has_a_ttl(store, store_client):
    record = make(store)
    assert store.get(record.session_id) == record
    store.beat(record.session_id, "w", 5)
    store.push_code(record.session_id, "abc#def", 10)
    store.put_payload(record.session_id, "{}", 10)
    keys = list(store_client.scan_iter())
    assert sorted(keys) == sorted(key_for("unit", kind, record.session_id if kind is not
                                          KeyKind.LIVE else "")
                                  for kind in KeyKind
                                  if kind not in (KeyKind.CLI_VERSION, KeyKind.WORKERS))
    assert all(store_client.ttl(key) > 0 for key in keys)


@pytest.mark.parametrize(("kind", "sid", "expected"), [
    (KeyKind.SESSION, "abc", "p:session:abc"),
    (KeyKind.CODE, "abc", "p:code:abc"),
    (KeyKind.PAYLOAD, "abc", "p:payload:abc"),
    (KeyKind.HEARTBEAT, "abc", "p:heartbeat:abc"),
    (KeyKind.LIVE, "", "p:live"),
    (KeyKind.CLI_VERSION, "docker", "p:cli_version:docker"),
])
def test_key_names(kind, sid, expected):
    assert key_for("p", kind, sid) == expected


def test_transition_is_checked_and_terminal_states_shorten_the_ttl(store, store_client):
    record = make(store, ttl=900)
    with pytest.raises(InvalidTransition):
        store.transition(record.session_id, Event.SUCCEEDED)
    after = store.transition(record.session_id, Event.FAILED, error_code="x", error_message="y")
    assert after.state is SessionState.FAILED and after.error_code == "x"
    assert store_client.ttl(store.key(KeyKind.SESSION, record.session_id)) <= 300
    assert record.session_id not in store.live_session_ids()
    with pytest.raises(SessionNotFound):
        store.transition("missing" * 3, Event.FAILED)


def test_concurrent_transitions_let_exactly_one_win(store):
    record = make(store)
    store.transition(record.session_id, Event.URL_PUBLISHED)
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        try:
            store.transition(record.session_id, Event.CODE_SUBMITTED)
            wins.append("won")
        except InvalidTransition:
            pass

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins == ["won"]


def test_payload_is_claimed_once_and_only_when_ready(store):
    record = make(store)
    sid = record.session_id
    store.put_payload(sid, '{"mode": "oauth"}', 30)
    assert store.claim_payload(sid) is None  # not ready yet
    for event in (Event.URL_PUBLISHED, Event.CODE_SUBMITTED, Event.SUCCEEDED):
        store.transition(sid, event)
    results = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(store.claim_payload(sid))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None] * 5 + ['{"mode": "oauth"}']
    assert store.get(sid).state is SessionState.CLAIMED
    assert not store.payload_present(sid)


def test_wait_code_blocks_until_a_code_or_a_wake(store):
    record = make(store)
    assert store.wait_code(record.session_id, 0.2) is None
    threading.Timer(0.2, store.push_code, (record.session_id, "c#d", 10)).start()
    assert store.wait_code(record.session_id, 5) == "c#d"
    store.wake(record.session_id)
    assert store.wait_code(record.session_id, 1) == WAKE


def test_settle_marks_lost_workers_and_expiry(store):
    lost = make(store, "l" * 22)
    assert store.take_ownership(lost.session_id, "w1", 5)
    assert not store.take_ownership(lost.session_id, "w2", 5)
    assert store.settle(lost.session_id).state is SessionState.STARTING  # it beats
    store.drop_heartbeat(lost.session_id)
    assert store.settle(lost.session_id).error_code == "worker_lost"
    gone = make(store, "g" * 22, ttl=-1)
    settled = store.settle(gone.session_id)
    assert settled.state is SessionState.EXPIRED and settled.error_code == "expired"
    queued = make(store, "q" * 22)
    assert store.settle(queued.session_id).state is SessionState.STARTING
