"""SessionStore primitives against a real redis-server."""

from __future__ import annotations

import threading

import pytest

from vaporforge.keys import KeyKind, key_for, rate_count_key
from vaporforge.registry import Registry
from vaporforge.session.record import SessionRecord, WindowCounter
from vaporforge.session.states import LoginMode, SessionState
from vaporforge.session.store import WAKE, SessionStore

S = SessionState


@pytest.fixture
def store(store_client):
    return SessionStore(store_client, "unit")


def make(store: SessionStore, sid: str = "s" * 22, ttl: int = 60,
         max_sessions: int = 100) -> SessionRecord:
    now = store.now()
    record = SessionRecord(sid, LoginMode.OAUTH, S.STARTING, "h" * 64, now, now + ttl)
    assert store.create(record=record, max_sessions=max_sessions).created
    return record


def take(store: SessionStore, sid: str, owner: str) -> bool:
    return store.take(session_id=sid, expect=S.STARTING, to=S.STARTING, owner=owner,
                      heartbeat_ttl=5).taken


def claim_once(store: SessionStore, sid: str) -> str | None:
    return store.claim(session_id=sid, expect=S.READY, to=S.CLAIMED).payload


def test_round_trip_and_every_key_has_a_ttl(store, store_client):
    record = make(store)
    sid = record.session_id
    assert store.get(sid) == record
    assert take(store, sid, "w")
    store.move(session_id=sid, expect=S.STARTING, to=S.AWAITING_CODE)
    store.move(session_id=sid, expect=S.AWAITING_CODE, to=S.VERIFYING, push="abc#def", push_ttl=10)
    store.move(session_id=sid, expect=S.VERIFYING, to=S.READY, payload="{}", payload_ttl=10)
    Registry.beside(store).register_worker("w", 4, 5)
    Registry.beside(store).report_cli_version("local", "2.1.332 (Claude Code)")
    keys = set(store_client.scan_iter())
    assert keys == {key_for("unit", kind, sid) for kind in (
        KeyKind.SESSION, KeyKind.CODE, KeyKind.PAYLOAD, KeyKind.HEARTBEAT)} | {
        key_for("unit", KeyKind.LIVE), key_for("unit", KeyKind.WORKERS),
        key_for("unit", KeyKind.METRICS), key_for("unit", KeyKind.CLI_VERSION, "local")}
    assert all(store_client.ttl(key) > 0 for key in keys)


@pytest.mark.parametrize(("kind", "sid", "expected"), [
    (KeyKind.SESSION, "abc", "p:session:abc"),
    (KeyKind.CODE, "abc", "p:code:abc"),
    (KeyKind.PAYLOAD, "abc", "p:payload:abc"),
    (KeyKind.HEARTBEAT, "abc", "p:heartbeat:abc"),
    (KeyKind.LIVE, "", "p:live"),
    (KeyKind.WORKERS, "", "p:workers"),
    (KeyKind.METRICS, "", "p:metrics"),
    (KeyKind.CLI_VERSION, "docker", "p:cli_version:docker"),
])
def test_key_names(kind, sid, expected):
    assert key_for("p", kind, sid) == expected


def test_read_sees_record_heartbeat_and_payload_together(store):
    sid = make(store).session_id
    first = store.read(session_id=sid)
    assert (first.record.state, first.heartbeat_alive, first.payload_present) == (
        S.STARTING, False, False)
    take(store, sid, "w")
    assert store.read(session_id=sid).heartbeat_alive
    assert store.read(session_id="missing" * 3) is None


@pytest.mark.parametrize(("presented", "reads", "hits"), [
    ("h" * 64, 3, 3),   # the token holder: each read is one step
    ("x" * 64, 3, 0),   # another token: nothing is spent
    ("", 2, 0),         # no token at all
])
def test_read_steps_the_counter_only_for_the_token_holder(store, store_client, presented,
                                                          reads, hits):
    sid = make(store).session_id
    counter = WindowCounter("unit:limit/poll/" + sid, 30)
    for _ in range(reads):
        snapshot = store.read(session_id=sid, count=counter, token_hash=presented)
    assert snapshot.hits == hits
    assert int(store_client.get(counter.key) or 0) == hits
    if hits:
        assert 0 < store_client.ttl(counter.key) <= 30  # the window runs from the first step


def test_reading_a_missing_session_makes_no_counter(store, store_client):
    counter = WindowCounter("unit:limit/poll/nobody", 30)
    assert store.read(session_id="nobody" * 4, count=counter, token_hash="h" * 64) is None
    assert store_client.exists(counter.key) == 0


@pytest.mark.parametrize(("expect", "applied"), [(S.STARTING, True), (S.AWAITING_CODE, False)])
def test_move_is_compare_and_set(store, expect, applied):
    sid = make(store).session_id
    moved = store.move(session_id=sid, expect=expect, to=S.FAILED, fields={"error_code": "x"})
    assert moved.applied is applied
    assert store.get(sid).state is (S.FAILED if applied else S.STARTING)


def test_terminal_moves_shorten_the_ttl_leave_live_and_drop_the_payload(store, store_client):
    sid = make(store, ttl=900).session_id
    store.move(session_id=sid, expect=S.STARTING, to=S.VERIFYING, payload="{}", payload_ttl=60)
    assert store_client.exists(store.key(KeyKind.PAYLOAD, sid))
    store.move(session_id=sid, expect=S.VERIFYING, to=S.CANCELLED)
    assert store_client.ttl(store.key(KeyKind.SESSION, sid)) <= 300
    assert sid not in store.live_session_ids()
    assert not store_client.exists(store.key(KeyKind.PAYLOAD, sid))


def test_move_on_a_vanished_record_creates_nothing(store, store_client):
    moved = store.move(session_id="gone" * 6, expect=S.STARTING, to=S.FAILED, push=WAKE, push_ttl=5)
    assert not moved.applied and moved.state is None
    assert list(store_client.scan_iter()) == []


def test_concurrent_moves_let_exactly_one_win(store):
    sid = make(store).session_id
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        wins.append(store.move(session_id=sid, expect=S.STARTING, to=S.AWAITING_CODE).applied)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_payload_is_claimed_once_and_only_when_ready(store):
    sid = make(store).session_id
    assert claim_once(store, sid) is None  # not ready
    store.move(session_id=sid, expect=S.STARTING, to=S.READY, payload='{"mode": "oauth"}',
               payload_ttl=30)
    results: list[str | None] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(claim_once(store, sid))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None] * 5 + ['{"mode": "oauth"}']
    snapshot = store.read(session_id=sid)
    assert snapshot.record.state is S.CLAIMED and not snapshot.payload_present


def test_wait_code_blocks_until_a_code_or_a_wake(store):
    sid = make(store).session_id
    assert store.wait_code(sid, 0.2) is None
    timer = threading.Timer(0.2, store.move, (), {"session_id": sid, "expect": S.STARTING,
                                                  "to": S.VERIFYING, "push": "c#d",
                                                  "push_ttl": 10})
    timer.start()
    assert store.wait_code(sid, 5) == "c#d"
    timer.join(5)  # its reply may still be on the way; the client closes after the test
    store.move(session_id=sid, expect=S.VERIFYING, to=S.CANCELLED, push=WAKE, push_ttl=5)
    assert store.wait_code(sid, 1) == WAKE


def test_take_is_once_and_only_while_starting(store):
    sid = make(store).session_id
    assert take(store, sid, "w1")
    assert not take(store, sid, "w2")
    assert store.get(sid).owner == "w1"


def test_beat_never_recreates_a_dropped_heartbeat(store, store_client):
    sid = make(store).session_id
    take(store, sid, "w")
    store.drop_heartbeat(sid)
    store.beat(sid, "w", 5)  # a late beat from a stale list of held sessions
    assert not store_client.exists(store.key(KeyKind.HEARTBEAT, sid))


def test_admission_counts_live_sessions_and_worker_capacity(store):
    for n in range(2):
        make(store, f"{n}" * 22, max_sessions=2)
    refused = SessionRecord("x" * 22, LoginMode.OAUTH, S.STARTING, "h", store.now(),
                            store.now() + 60)
    assert not store.create(record=refused, max_sessions=2).created
    assert store.get(refused.session_id) is None
    registry = Registry.beside(store)
    registry.register_worker("w", 3, 10)  # capacity 3 now caps a VF_MAX_SESSIONS of 100
    assert store.create(record=refused, max_sessions=100).created
    other = SessionRecord("y" * 22, LoginMode.OAUTH, S.STARTING, "h", store.now(),
                          store.now() + 60)
    assert not store.create(record=other, max_sessions=100).created
    assert registry.worker_capacity() == (1, 3)


def test_the_rate_counter_key_is_the_projects_own():
    assert rate_count_key("vf", "poll", "abc") == "vf:limit/poll/abc"
    assert rate_count_key("vf", "action", "abc") == key_for("vf", KeyKind.RATE_COUNT,
                                                            "action/abc")


def test_the_rate_counter_is_a_fixed_window_from_its_first_step(store, store_client):
    """The window starts at the first counted read and is not pushed back by later
    ones; once its key lapses, counting starts again at 1."""
    sid = make(store).session_id
    counter = WindowCounter(rate_count_key("unit", "poll", sid), 30)
    hits = [store.read(session_id=sid, count=counter, token_hash="h" * 64).hits
            for _ in range(3)]
    assert hits == [1, 2, 3]
    store_client.expire(counter.key, 5)  # later steps must not renew the window
    store.read(session_id=sid, count=counter, token_hash="h" * 64)
    assert 0 < store_client.ttl(counter.key) <= 5
    assert store.window_left(counter) <= 5
    store_client.delete(counter.key)  # the window ended
    assert store.read(session_id=sid, count=counter, token_hash="h" * 64).hits == 1
    assert 0 < store_client.ttl(counter.key) <= 30
