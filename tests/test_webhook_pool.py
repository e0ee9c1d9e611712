"""Webhook deliveries run on a pool of their own, each attempt under a total
deadline: a receiver that drips one byte every 2 s is cut at the deadline and
never holds a login thread.

First the parts (the shared timer of :mod:`vaporforge.upstream`, the pool), then
the real stack: gunicorn, a Celery worker (``celery -A worker worker``), Redis
and the CLI simulator, with the webhook pointed at a loopback receiver that
drips. Speed figures are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.client import HttpClient
from tests.support.processes import Databases, wait_for
from tests.support.stack import Stack, add_worker, running_stack
from vaporforge import defaults
from vaporforge.webhooks import HEADER, deliver, verify_signature
from worker.webhooks import Delivery, WebhookPool

SECRET = "whsec-" + "p" * 32
DRIP_EVERY = 2.0


@dataclass
class Hit:
    """One connection to the receiver."""

    event: dict
    signature: str
    body: bytes
    opened: float
    closed: float = 0.0
    dripped: int = 0
    outcome: str = ""  # "cut" (the broker closed it while it dripped), "ok" or "failed"


@dataclass
class Receiver:
    """A raw loopback HTTP receiver. ``mode`` "drip": reads the request, then
    sends the status line one byte every ``DRIP_EVERY`` seconds, for ever; "ok":
    answers 200 at once; "fail": 500 at once."""

    mode: str = "drip"
    answer: bytes = b""
    hits: list[Hit] = field(default_factory=list)
    open_now: int = 0
    most_open: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket | None = None

    @property
    def url(self) -> str:
        assert self.sock is not None
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks"

    def start(self) -> Receiver:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.sock is not None:
            self.sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()  # type: ignore[union-attr]
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
            while len(body) < int(headers.get("Content-Length", "0")):
                body += conn.recv(65536)
            hit = Hit(json.loads(body), headers.get(HEADER, ""), body, time.monotonic())
            with self.lock:
                self.hits.append(hit)
                self.open_now += 1
                self.most_open = max(self.most_open, self.open_now)
            try:
                if self.mode == "fail":
                    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                    hit.outcome = "failed"
                elif self.mode == "ok":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(self.answer), self.answer))
                    hit.outcome = "ok"
                else:
                    self._drip(conn, hit)
            finally:
                hit.closed = time.monotonic()
                with self.lock:
                    self.open_now -= 1

    def _drip(self, conn: socket.socket, hit: Hit) -> None:
        status = b"HTTP/1.1 200 OK\r\n"
        while not self.stopping.is_set():
            readable, _, _ = select.select([conn], [], [], DRIP_EVERY)
            if readable:
                try:
                    if not conn.recv(1):
                        hit.outcome = "cut"
                        return
                except OSError:
                    hit.outcome = "cut"
                    return
            try:
                conn.send(status[hit.dripped % len(status):][:1])
            except OSError:
                hit.outcome = "cut"
                return
            hit.dripped += 1

    def of(self, kind: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.event["type"] == kind]


# -- the parts ---------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def test_an_attempt_to_a_dripping_receiver_is_cut_at_its_deadline(receiver):
    started = time.monotonic()
    assert not deliver(receiver.url, SECRET, '{"id":"evt_1","type":"login.created"}',
                       timeout=3)
    took = time.monotonic() - started
    wait_for(lambda: receiver.hits and receiver.hits[0].outcome == "cut", timeout=5,
             what="the receiver to see its connection cut")
    hit = receiver.hits[0]
    assert 1 <= hit.dripped <= 3  # it was dripping (a byte every 2 s) when cut
    assert verify_signature(SECRET, hit.signature, hit.body)
    print(f"attempt cut after {took:.2f} s (deadline 3 s)")


def test_an_answer_over_the_cap_is_a_failed_attempt(receiver):
    receiver.mode = "ok"
    receiver.answer = b"x" * (defaults.WEBHOOK_MAX_ANSWER + 1)
    assert not deliver(receiver.url, SECRET, '{"id":"evt_2","type":"login.ready"}')
    receiver.answer = b"x" * defaults.WEBHOOK_MAX_ANSWER
    assert deliver(receiver.url, SECRET, '{"id":"evt_3","type":"login.ready"}')


class Recorder:
    def __init__(self) -> None:
        self.requeued: list[tuple[str, float, int, float]] = []

    def __call__(self, body: str, queued_at: float, *, retries: int, countdown: float,
                 deferred: int = 0) -> None:
        self.requeued.append((body, queued_at, retries, countdown))


def test_the_pool_never_waits_and_gives_back_what_it_cannot_take():
    release = threading.Event()
    started: list[str] = []

    def attempt(url: str, secret: str, body: str) -> bool:
        started.append(body)
        release.wait(10)
        return body != "fails"

    recorder = Recorder()
    pool = WebhookPool(2, 1, recorder, attempt)
    now = time.time()
    assert pool.submit(Delivery("u", "s", "fails", now, attempt=3))
    assert pool.submit(Delivery("u", "s", "ok", now))
    wait_for(lambda: len(started) == 2, what="both threads to take an event")
    assert pool.submit(Delivery("u", "s", "waits", now, attempt=2))  # the backlog of 1
    before = time.monotonic()
    assert not pool.submit(Delivery("u", "s", "refused", now))  # full: no waiting
    assert time.monotonic() - before < 0.5
    pool.close()  # stop: the waiting one goes back untried, the two under way finish
    assert not pool.submit(Delivery("u", "s", "late", now))
    release.set()
    assert pool.join(5)
    assert sorted(recorder.requeued) == sorted([
        ("fails", now, 3, 4),   # a failed third attempt: retry 3 done, next in 4 s
        ("waits", now, 1, 1),   # given back as it came (retries 1), 1 s on
    ])
    assert started == ["fails", "ok"] or started == ["ok", "fails"]
    assert pool.held() == 0


# -- the stack ---------------------------------------------------------------------

LOGINS = 20
POOL = 2


@pytest.fixture(scope="module")
def dripping() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def hooked_stack(databases: Databases, work_root: Path, url: str, name: str,
                 concurrency: int) -> AbstractContextManager[Stack]:
    """A stack whose webhook goes to ``url`` (:func:`running_stack`)."""
    return running_stack(databases, work_root, name, concurrency=concurrency,
                         extra_env={"VF_WEBHOOK_URL": url, "VF_WEBHOOK_SECRET": SECRET,
                                    "VF_WEBHOOK_CONCURRENCY": str(POOL)})


def one_login(stack: Stack, n: int) -> float:
    client = HttpClient(stack)
    started = time.monotonic()
    session = client.create("oauth")
    client.wait_state(session, "awaiting_code")
    pasted = client.call("POST", session, "/code", json={"code": f"code-{n}#state"})
    assert pasted.status_code == 202, pasted.text
    client.wait_state(session, "ready")
    took = time.monotonic() - started
    assert client.call("POST", session, "/credentials").status_code == 200
    return took


def test_a_dripping_receiver_is_cut_while_twenty_logins_run(databases, work_root, dripping):
    # As many login threads as logins: before this pool, the first events to
    # reach the receiver held them all, and no login got a thread to start.
    with hooked_stack(databases, work_root, dripping.url, "drip", concurrency=LOGINS) as stack:
        with ThreadPoolExecutor(LOGINS) as logins:
            took = sorted(logins.map(lambda n: one_login(stack, n), range(LOGINS)))
        created = dripping.of("login.created")
        assert created, "no event reached the receiver"
        assert dripping.most_open <= POOL  # never more attempts at once than the pool
        wait_for(lambda: any(h.outcome == "cut" for h in dripping.hits),
                 timeout=defaults.WEBHOOK_TIMEOUT + 10,
                 what="the deadline to cut a dripping attempt")
        cut = [h for h in dripping.hits if h.outcome == "cut"]
        assert all(h.dripped <= defaults.WEBHOOK_TIMEOUT / DRIP_EVERY + 1 for h in cut)
        for hit in created:
            assert verify_signature(SECRET, hit.signature, hit.body)
        print(f"{LOGINS} concurrent logins (create to ready) while the receiver dripped: "
              f"median {took[len(took) // 2]:.2f} s, slowest {took[-1]:.2f} s; attempts cut "
              f"after {', '.join(f'{h.closed - h.opened:.1f}' for h in cut)} s")


def test_logins_alone_for_comparison(databases, work_root):
    """The same twenty logins without a webhook (the figure the report compares)."""
    with running_stack(databases, work_root, "nohook", concurrency=LOGINS) as stack:
        with ThreadPoolExecutor(LOGINS) as logins:
            took = sorted(logins.map(lambda n: one_login(stack, n), range(LOGINS)))
        print(f"{LOGINS} concurrent logins without a webhook: median "
              f"{took[len(took) // 2]:.2f} s, slowest {took[-1]:.2f} s")


def test_a_failed_attempt_is_retried_from_the_pool_with_the_backoff(databases, work_root):
    receiver = Receiver(mode="fail").start()
    try:
        with hooked_stack(databases, work_root, receiver.url, "backoff", concurrency=4) as stack:
            session = stack.create("oauth")

            def attempts() -> list[Hit]:
                return [h for h in receiver.of("login.created")
                        if h.event["data"]["session_id"] == session["session_id"]]

            wait_for(lambda: len(attempts()) >= 4, timeout=30,
                     what="four attempts of one event (1 s, 2 s and 4 s apart)")
            tried = attempts()[:4]
            assert len({h.event["id"] for h in tried}) == 1
            gaps = [b.opened - a.opened for a, b in zip(tried, tried[1:], strict=False)]
            # Lower bounds only (a countdown is never early): the retry count travels
            # with each retry message, so the wait doubles.
            assert gaps[0] >= 0.9 and gaps[1] >= 1.9 and gaps[2] >= 3.9, gaps
            assert stack.call("DELETE", session).status_code == 204
    finally:
        receiver.stop()


def test_events_in_the_pool_when_the_worker_stops_are_delivered_by_the_next(
        databases, work_root):
    """SIGTERM while one attempt drips and more events wait: the worker exits
    within the attempt's deadline, and another worker delivers every event."""
    receiver = Receiver().start()
    try:
        with hooked_stack(databases, work_root, receiver.url, "handover", concurrency=8) as stack:
            sessions = [stack.create("oauth") for _ in range(6)]
            wait_for(lambda: len(receiver.hits) >= POOL, timeout=15,
                     what="the pool's attempts to reach the dripping receiver")
            first = stack.workers[0]
            started = time.monotonic()
            first.terminate()
            first.wait(defaults.WEBHOOK_TIMEOUT + 30)
            stopped = time.monotonic() - started
            receiver.mode = "ok"
            add_worker(stack, "handover")
            created = {s["session_id"] for s in sessions}

            def delivered() -> set[str]:
                return {h.event["data"]["session_id"] for h in receiver.of("login.created")
                        if h.outcome == "ok"}

            wait_for(lambda: delivered() >= created, timeout=60,
                     what="every login.created to be delivered by the second worker")
            print(f"SIGTERM to exit with {POOL} attempts dripping: {stopped:.1f} s")
    finally:
        receiver.stop()
