"""Redis failover through Sentinel, measured on the real stack.

A master, a replica and three sentinels (quorum 2, down-after 1 s), gunicorn and
one Celery worker reaching Redis through them. Each run: two sessions wait for a
code and the CLI of a third is exchanging its code (2 s), the master is
SIGKILLed, and new sessions are tried until one reaches ``awaiting_code``.
Prints that gap (median and max over the runs) and how the sessions in flight
and those created meanwhile ended. Nothing is asserted here
beyond what tests/test_sentinel.py asserts.

    .venv/bin/python bench/failover.py [--runs 5] [--logs]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from tests.support.sentinel_group import LOGIN_COMMAND, failover_flow, start_sentinel_group
from tests.support.stack import start_stack, stop_stack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--logs", action="store_true", help="print the processes' logs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vf-failover-"))
    gaps, accepted = [], []
    for run in range(args.runs):
        group = start_sentinel_group(folder / f"sentinel-{run}")
        stack = start_stack(group.store_url(2), folder, f"run-{run}", extra_env=group.env(),
                            login_command=LOGIN_COMMAND)
        try:
            result = failover_flow(stack, group)
        finally:
            stop_stack(stack)
            group.stop()
        gaps.append(result.gap)
        accepted.append(result.accepted)
        print(f"run {run}: gap {result.gap:.2f} s (first 202 after {result.accepted:.2f} s, "
              f"{result.refused} creations refused before), "
              f"in flight {result.in_flight}, created meanwhile {result.during}")
        if args.logs:
            print(stack.logs())
    print(f"failover gap (SIGKILL to a new session in awaiting_code) over {len(gaps)} runs: "
          f"median {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s; the API accepted "
          f"creations again after a median {statistics.median(accepted):.2f} s")


if __name__ == "__main__":
    main()
