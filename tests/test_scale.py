"""Several workers on one Redis: routing to free slots, a lost task, a killed
worker beside a healthy one, and a graceful drain on SIGTERM."""

from __future__ import annotations

import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.processes import SIMULATOR, cli_processes, wait_for
from tests.support.stack import add_worker, running_stack


def capacity(stack) -> int:
    return requests.get(stack.url("/readyz"), timeout=5).json()["capacity"]


@pytest.fixture
def two_by_two(databases, work_root):
    """Two worker processes with two slots each."""
    with running_stack(databases, work_root, "two-by-two", concurrency=2,
                       extra_env={"VF_HEARTBEAT_TTL": "3", "VF_REAP_INTERVAL": "1"}) as stack:
        add_worker(stack, "two-by-two", concurrency=2)
        wait_for(lambda: capacity(stack) == 4, what="both workers to advertise 2 slots")
        yield stack


def post(stack) -> requests.Response:
    return requests.post(stack.url("/api/auth/sessions"), json={}, timeout=10)


def test_sessions_reach_a_free_slot_on_any_worker(databases, work_root):
    with running_stack(databases, work_root, "route", concurrency=2) as stack:
        busy = [stack.create("oauth") for _ in range(2)]
        for session in busy:  # the first worker's two threads are taken
            stack.wait_state(session, "awaiting_code", timeout=15)
        # A second worker joins after the first is already waiting for work: with
        # prefetch, the busy one would take the next message and keep it queued.
        add_worker(stack, "route", concurrency=2)
        wait_for(lambda: capacity(stack) == 4, what="both workers to advertise 2 slots")
        for _ in range(2):
            session = stack.create("oauth")
            stack.wait_state(session, "awaiting_code", timeout=10)


def test_a_burst_gets_free_slots_and_the_rest_is_refused(two_by_two):
    stack = two_by_two
    one_by_one = []
    for _ in range(4):
        one_by_one.append(stack.create("oauth"))
        stack.wait_state(one_by_one[-1], "awaiting_code", timeout=15)
    refused = post(stack)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "at_capacity"
    for session in one_by_one:
        stack.call("DELETE", session)
    wait_for(lambda: not cli_processes(), what="the CLIs to end")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(stack), range(8)))
    accepted = [r.json() for r in answers if r.status_code == 202]
    assert len(accepted) == 4
    assert {r.json()["error"]["code"] for r in answers if r.status_code != 202} == {
        "at_capacity"}
    for session in accepted:  # none waits behind a busy worker
        stack.wait_state(session, "awaiting_code", timeout=15)
    for session in accepted:
        stack.call("DELETE", session)


def test_killing_one_worker_loses_only_its_sessions(two_by_two):
    stack = two_by_two
    sessions = [stack.create("oauth") for _ in range(4)]
    for session in sessions:
        stack.wait_state(session, "awaiting_code", timeout=15)
    victim = stack.workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    finals = {s["session_id"]: stack.wait_state(s, "failed", "awaiting_code", timeout=5)
              for s in sessions}
    wait_for(lambda: sum(stack.status(s)["state"] == "failed" for s in sessions) == 2,
             timeout=15, what="the dead worker's two sessions to read worker_lost")
    lost = [s for s in sessions if stack.status(s)["state"] == "failed"]
    alive = [s for s in sessions if s not in lost]
    assert all(stack.status(s)["error"]["code"] == "worker_lost" for s in lost)
    assert len(alive) == 2 and finals
    for session in alive:  # the other worker's logins finish normally
        stack.call("POST", session, "/code", json={"code": "after-the-crash#state"})
        stack.wait_state(session, "ready", timeout=15)
        assert stack.call("POST", session, "/credentials").status_code == 200
    wait_for(lambda: len(cli_processes()) == 0, timeout=15, what="the lost CLIs to end")
    wait_for(lambda: not list(stack.work_dir.iterdir()), timeout=15,
             what="the surviving worker's reaper to remove the dead worker's HOMEs")


def test_sigterm_drains_the_worker(databases, work_root):
    with running_stack(databases, work_root, "drain", concurrency=4,
                       login_command=f"{sys.executable} {SIMULATOR} --slow-answer 2 "
                                     "--stamp-codes",
                       extra_env={"VF_EXCHANGE_TIMEOUT": "20"}) as stack:
        slow = stack.workers[0]  # its CLI answers a code after 2 s
        verifying, waiting = stack.create("oauth"), stack.create("oauth")
        for session in (verifying, waiting):
            stack.wait_state(session, "awaiting_code", timeout=15)
        stack.call("POST", verifying, "/code", json={"code": "slow-but-fine#state"})
        # The worker has typed the code; the CLI takes 2 s to answer.
        wait_for(lambda: list(stack.work_dir.rglob("code-received")),
                 what="the CLI to read the typed code")  # --stamp-codes
        started = time.monotonic()
        slow.send_signal(signal.SIGTERM)
        slow.wait(60)
        drained = time.monotonic() - started
        print(f"drain: SIGTERM to exit {drained:.2f} s")
        assert stack.status(verifying)["state"] == "ready"
        assert stack.call("POST", verifying, "/credentials").status_code == 200
        status = stack.status(waiting)
        assert (status["state"], status["error"]["code"]) == ("failed", "worker_shutdown")
        assert not cli_processes()
        assert not list(stack.work_dir.iterdir())
        assert capacity(stack) == 0  # it withdrew its capacity
