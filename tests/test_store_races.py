"""Every compare-and-set step of the store, raced by two processes at once on a
real redis-server: exactly one of them wins, every time."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import pytest
import redis

from vaporforge.session.record import SessionRecord
from vaporforge.session.states import Event, LoginMode, SessionState, transition
from vaporforge.session.store import SessionStore
from vaporforge.session.warm import WarmStore

S, PREFIX, MODE = SessionState, "race", LoginMode.OAUTH
ROUNDS = 5


def new(store: SessionStore, sid: str) -> SessionRecord:
    now = store.now()
    record = SessionRecord(sid, MODE, S.STARTING, "h" * 64, now, now + 60)
    assert store.create(record=record, max_sessions=100).created
    return record


def open_store(url: str) -> SessionStore:
    return SessionStore(redis.Redis.from_url(url, decode_responses=True), PREFIX)


# Each case: (set up in the parent -> ids, the step each process runs -> won?).
def _one(store: SessionStore, n: int) -> list[str]:
    return [new(store, f"{n}" * 22).session_id] * 2


def _ready(store: SessionStore, n: int) -> list[str]:
    sid = new(store, f"{n}" * 22).session_id
    store.move(session_id=sid, expect=S.STARTING, to=S.READY, payload="{}", payload_ttl=30)
    return [sid, sid]


def _offered(store: SessionStore, n: int) -> list[str]:
    WarmStore(store).offer(f"entry{n}", MODE, "https://x/y", "w", 30)
    return [new(store, f"{n}a".ljust(22, "a")).session_id,
            new(store, f"{n}b".ljust(22, "b")).session_id]


def _fresh(store: SessionStore, n: int) -> list[str]:
    return [f"{n}c".ljust(22, "c"), f"{n}d".ljust(22, "d")]


def move(store: SessionStore, sid: str, n: int) -> bool:
    return store.move(session_id=sid, expect=S.STARTING,
                      to=transition(S.STARTING, Event.URL_PUBLISHED)).applied


def claim(store: SessionStore, sid: str, n: int) -> bool:
    return store.claim(session_id=sid, expect=S.READY,
                       to=transition(S.READY, Event.CLAIMED)).payload is not None


def take(store: SessionStore, sid: str, n: int) -> bool:
    return store.take(session_id=sid, expect=S.STARTING, to=transition(S.STARTING, Event.TAKEN),
                      owner=f"w-{sid}", heartbeat_ttl=5).taken


def create(store: SessionStore, sid: str, n: int) -> bool:
    now = store.now()
    record = SessionRecord(sid, MODE, S.STARTING, "h" * 64, now, now + 60)
    return store.create(record=record, max_sessions=n + 1).created  # n sessions exist already


def bind(store: SessionStore, sid: str, n: int) -> bool:
    return bool(WarmStore(store).bind(session_id=sid, mode=MODE, expect=S.STARTING,
                                      to=transition(S.STARTING, Event.BOUND),
                                      heartbeat_ttl=5).place_id)


def withdraw(store: SessionStore, sid: str, n: int) -> bool:
    return WarmStore(store).withdraw(entry_id=f"entry{n}", mode=MODE).withdrawn


CASES: list[tuple[str, Callable[..., list[str]], Callable[..., bool], Callable[..., bool]]] = [
    ("move", _one, move, move),
    ("claim", _ready, claim, claim),
    ("take", _one, take, take),
    ("create at the last free place", _fresh, create, create),
    ("bind one warm entry", _offered, bind, bind),
    ("bind against withdraw", _offered, bind, withdraw),
    ("withdraw twice", _offered, withdraw, withdraw),
]


def _contender(url: str, step: Callable[..., bool], sid: str, n: int, barrier, results) -> None:
    store = open_store(url)
    store.get(sid)  # connected and the scripts loaded before the start line
    barrier.wait(10)
    results.put(step(store, sid, n))


@pytest.mark.parametrize(("name", "setup", "first", "second"), CASES,
                         ids=[case[0] for case in CASES])
def test_two_processes_racing_a_step_make_exactly_one_winner(redis_db, store_client, name,
                                                              setup, first, second):
    store = SessionStore(store_client, PREFIX)
    context = multiprocessing.get_context("fork")
    for n in range(ROUNDS):
        ids = setup(store, n)
        barrier, results = context.Barrier(2), context.Queue()
        processes = [context.Process(target=_contender,
                                     args=(redis_db, step, sid, n, barrier, results))
                     for step, sid in ((first, ids[0]), (second, ids[1]))]
        for process in processes:
            process.start()
        for process in processes:
            process.join(20)
        assert [process.exitcode for process in processes] == [0, 0], name
        assert sorted(results.get(timeout=5) for _ in processes) == [False, True], name
