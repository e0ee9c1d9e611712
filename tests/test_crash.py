"""A worker killed mid-login: the user is told, and nothing is left running."""

from __future__ import annotations

import signal

from tests.support.processes import cli_processes, wait_for
from tests.support.stack import add_worker, running_stack


def test_killed_worker_is_reported_and_its_leftovers_are_reaped(databases, work_root):
    with running_stack(databases, work_root, "crash",
                       extra_env={"VF_HEARTBEAT_TTL": "2"}) as stack:
        session = stack.create("oauth")
        stack.wait_state(session, "awaiting_code")
        assert cli_processes()
        worker = stack.workers[0]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        # The CLI dies with its parent (PR_SET_PDEATHSIG)...
        wait_for(lambda: not cli_processes(), timeout=10, what="the orphaned CLI to die")
        # ...and the user sees why, once the heartbeat lapses.
        status = stack.wait_state(session, "failed", timeout=15)
        assert status["error"]["code"] == "worker_lost"
        assert list(stack.work_dir.iterdir())  # the HOME the dead worker left
        # A new worker's sweeps remove it.
        add_worker(stack, "crash", extra_env={"VF_REAP_INTERVAL": "1"})
        wait_for(lambda: not list(stack.work_dir.iterdir()), timeout=15,
                 what="the reaper to remove the dead worker's HOME")
