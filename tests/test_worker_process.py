"""A worker process sizes itself from the pool it runs, and no start-up error
can leave it without heartbeats or a reaper."""

from __future__ import annotations

import sys
import time

import requests

from tests.support.processes import SIMULATOR, wait_for
from tests.support.stack import running_stack
from vaporforge.registry import Registry
from vaporforge.session.states import LoginMode
from vaporforge.session.store import SessionStore
from vaporforge.session.warm import WarmStore
from vaporforge.settings import Settings
from worker.process import WorkerProcess
from worker.runtimes.local import LocalRuntime


class FirstProbeFails(LocalRuntime):
    """A real local runtime whose first version probe and first sweep fail, as
    when the engine or Redis is briefly away at start-up."""

    def __init__(self, work_dir: str) -> None:
        super().__init__(work_dir)
        self.failures = {"version": 1, "reap": 1}

    def _maybe_fail(self, what: str) -> None:
        if self.failures[what]:
            self.failures[what] -= 1
            raise RuntimeError(f"{what} failed at start-up")

    def version(self, login_command: tuple[str, ...]) -> str:
        self._maybe_fail("version")
        return super().version(login_command)

    def reap(self, live_session_ids: set[str]) -> int:
        self._maybe_fail("reap")
        return super().reap(live_session_ids)


def test_start_up_errors_are_retried_and_the_threads_run(redis_db, tmp_path):
    settings = Settings(redis_url=redis_db, work_dir=str(tmp_path / "homes"),
                        login_command=(sys.executable, str(SIMULATOR)), reap_interval=1,
                        heartbeat_ttl=3)
    made: list[FirstProbeFails] = []
    process = WorkerProcess(settings, lambda s: made.append(FirstProbeFails(s.work_dir))
                            or made[-1])
    process.pool_size = 5
    process.start()
    try:
        store = SessionStore(process.context().store.redis)
        wait_for(lambda: Registry.beside(store).cli_versions().get("local", "").startswith("2.1."),
                 timeout=10, what="the version probe to be retried")
        wait_for(lambda: made[0].failures == {"version": 0, "reap": 0}, what="a second sweep")
        # the heartbeat thread advertises the pool
        assert Registry.beside(store).worker_capacity() == (1, 5)
    finally:
        process.close()


def test_the_redis_pool_fits_the_thread_pool_that_runs(databases, work_root):
    """--concurrency beats VF_WORKER_CONCURRENCY: with more waiting logins than
    the setting, the heartbeats still get a connection."""
    with running_stack(databases, work_root, "wide", concurrency=24,
                       extra_env={"VF_WORKER_CONCURRENCY": "2", "VF_HEARTBEAT_TTL": "2"}) as stack:
        assert requests.get(stack.url("/readyz"), timeout=5).json()["capacity"] == 24
        sessions = [stack.create("oauth") for _ in range(24)]
        for session in sessions:
            stack.wait_state(session, "awaiting_code", timeout=30)
        time.sleep(4)  # two heartbeat TTLs with every thread in a blocking pop
        states = {stack.status(s)["state"] for s in sessions}
        assert states == {"awaiting_code"}
        for session in sessions:
            stack.call("DELETE", session)
        wait_for(lambda: not list(stack.work_dir.iterdir()), timeout=20, what="HOMEs gone")


class SlowToRemove(LocalRuntime):
    """A real local runtime whose places take a moment to remove, as a HOME
    full of CLI caches does."""

    def start(self, session_id: str, expires_at: int):
        place = super().start(session_id, expires_at)
        stop = place.stop

        def slow_stop() -> None:
            time.sleep(0.5)
            stop()

        place.stop = slow_stop  # type: ignore[method-assign]
        return place


def test_a_drained_warm_pool_leaves_no_home_when_the_process_exits(redis_db, tmp_path):
    """close() returns only once every warm entry's place is gone: the process
    exits right after it, and a HOME removed later would never be removed."""
    homes = tmp_path / "homes"
    settings = Settings(redis_url=redis_db, work_dir=str(homes),
                        login_command=(sys.executable, str(SIMULATOR)),
                        warm_pool={LoginMode.OAUTH: 2}, exchange_timeout=5)
    process = WorkerProcess(settings, lambda s: SlowToRemove(s.work_dir))
    process.pool_size = 4
    process.start()
    assert process.warm is not None
    wait_for(lambda: process.warm.count(LoginMode.OAUTH) == 2
             and WarmStore(process.context().store).counts().get("oauth") == 2,
             timeout=15, what="two warm entries")
    process.drain()
    # As in Celery: the pool stops between drain and close, and by then the
    # entries have noticed the drain and are removing their places.
    wait_for(lambda: process.warm.count(LoginMode.OAUTH) == 0, timeout=5,
             what="the entries to notice the drain")
    process.close()
    assert list(homes.iterdir()) == []
