"""The warm pool on real worker processes with the simulator: sessions take a
CLI that already shows its URL, each entry serves one session only, old
entries are replaced, and nothing is left behind on any path."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.cli_simulator import tokens_for
from tests.support.processes import cli_processes, wait_for
from tests.support.stack import running_stack, store_database


def clis_of(stack) -> set[int]:
    """The CLI processes running in this stack's HOMEs."""
    return set(cli_processes(within=stack.work_dir))


def warm(stack, mode: str = "oauth") -> int:
    return requests.get(stack.url("/readyz"), timeout=5).json()["warm"][mode]


@pytest.fixture(scope="module")
def pooled(databases, work_root):
    with running_stack(databases, work_root, "warm", concurrency=8,
                       extra_env={"VF_WARM_POOL": "oauth:2,setup-token:1",
                                  "VF_WARM_MAX_AGE": "600", "VF_REAP_INTERVAL": "1"}) as stack:
        yield stack
    # the block's end is a drain: every entry is withdrawn and its CLI and HOME removed
    assert not cli_processes()
    assert not list(stack.work_dir.iterdir())


def refilled(stack) -> None:
    wait_for(lambda: warm(stack) == 2 and warm(stack, "setup-token") == 1, timeout=20,
             what="the warm pool to refill")


@pytest.mark.keeps_warm_entries
def test_a_session_takes_a_warm_cli_and_completes(pooled):
    refilled(pooled)
    session = pooled.create("oauth")
    assert session["state"] == "awaiting_code"  # at once: no CLI start to wait for
    assert session["oauth_url"].startswith("https://claude.com/cai/oauth/authorize?")
    assert pooled.status(session)["oauth_url"] == session["oauth_url"]
    code = "warm-code-0123456789#state"
    assert pooled.call("POST", session, "/code", json={"code": code}).status_code == 202
    pooled.wait_state(session, "ready")
    body = pooled.call("POST", session, "/credentials").json()
    assert body["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]
    refilled(pooled)  # the used entry is replaced, not reused


@pytest.mark.keeps_warm_entries
def test_setup_token_from_the_pool(pooled):
    refilled(pooled)
    session = pooled.create("setup-token")
    assert session["state"] == "awaiting_code"
    code = "warm-setup-token-code#state"
    pooled.call("POST", session, "/code", json={"code": code})
    pooled.wait_state(session, "ready")
    assert pooled.call("POST", session, "/credentials").json()["credentials"] == {
        "oauth_token": tokens_for(code)["access"]}


@pytest.mark.keeps_warm_entries
def test_sessions_never_share_an_entry_nor_a_url(pooled):
    refilled(pooled)
    with ThreadPoolExecutor(6) as pool:
        sessions = list(pool.map(lambda _: pooled.create("oauth"), range(6)))
    warm_ones = [s for s in sessions if s["state"] == "awaiting_code"]
    assert len(warm_ones) == 2  # two entries: two sessions took one each, the rest queued
    for session in sessions:
        pooled.wait_state(session, "awaiting_code")
    urls = [pooled.status(s)["oauth_url"] for s in sessions]
    assert len(set(urls)) == len(urls)
    for session in sessions:  # every login is its own CLI and ends with its cancel
        pooled.call("DELETE", session)
    refilled(pooled)
    wait_for(lambda: len(clis_of(pooled)) == 3, what="only the refilled entries to remain")


@pytest.mark.keeps_warm_entries
def test_cancel_and_expiry_end_a_warm_cli(pooled):
    refilled(pooled)
    before = clis_of(pooled)
    session = pooled.create("oauth")
    pooled.call("DELETE", session)
    wait_for(lambda: len(before - clis_of(pooled)) == 1, what="the bound CLI to end")
    refilled(pooled)


@pytest.mark.keeps_warm_entries  # the module's pool is still up
def test_old_entries_are_replaced(databases, work_root):
    with running_stack(databases, work_root, "warm-old",
                       extra_env={"VF_WARM_POOL": "oauth:1", "VF_WARM_MAX_AGE": "5"}) as stack:
        wait_for(lambda: warm(stack) == 1, timeout=20, what="one entry")
        first = clis_of(stack)
        assert len(first) == 1
        wait_for(lambda: clis_of(stack) and not first & clis_of(stack), timeout=30,
                 what="the entry to be recycled and replaced")
        wait_for(lambda: warm(stack) == 1, timeout=20, what="the replacement to be offered")
        session = stack.create("oauth")  # the replacement serves as usual
        assert session["state"] == "awaiting_code"
        stack.call("DELETE", session)
    assert not clis_of(stack)  # the drain withdrew and ended the fresh entry


@pytest.mark.keeps_warm_entries  # the module's pool is still up
def test_a_killed_worker_leaves_no_warm_cli_or_home(databases, work_root):
    with store_database(databases) as store_url:
        with running_stack(store_url, work_root, "warm-kill",
                           extra_env={"VF_WARM_POOL": "oauth:2", "VF_HEARTBEAT_TTL": "2"}) as stack:
            wait_for(lambda: warm(stack) == 2, timeout=20, what="two entries")
            bound = stack.create("oauth")
            victim = stack.workers[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            wait_for(lambda: not clis_of(stack), timeout=10, what="the CLIs to die with it")
            status = stack.wait_state(bound, "failed", timeout=15)
            assert status["error"]["code"] == "worker_lost"
            # The dead worker's entries have lapsed with its heartbeat TTL: a session
            # created now must not take one.
            late = stack.create("oauth")
            assert late["state"] == "starting" and late["oauth_url"] is None
            stack.call("DELETE", late)
        with running_stack(store_url, work_root, "warm-kill",
                           extra_env={"VF_REAP_INTERVAL": "1"}) as restarted:
            wait_for(lambda: not list(restarted.work_dir.iterdir()), timeout=20,
                     what="the reaper to remove the dead worker's warm HOMEs")
