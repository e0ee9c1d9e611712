"""Benchmarks through the real stack (redis-server, gunicorn, one Celery worker).

Prints: time from POST /api/auth/sessions to awaiting_code (median, p95, max over
N runs) and how many sessions one worker process held waiting at once.

    .venv/bin/python bench/latency.py [--runs 30] [--concurrent 64]
        [--login-command "python tests/cli_simulator.py"]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests"),
                str(Path(__file__).resolve().parent.parent)]

from harness import cli_processes, start_redis, start_stack, stop_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=64)
    parser.add_argument("--login-command", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vf-bench-"))
    redis_proc, redis_url = start_redis(folder)
    stack = start_stack(redis_url, folder, "bench", db=2, login_command=args.login_command,
                        extra_env={"VF_WORKER_CONCURRENCY": str(args.concurrent)},
                        concurrency=args.concurrent)
    try:
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            session = stack.create("oauth")
            stack.wait_state(session, "awaiting_code", interval=0.005)
            timings.append(time.perf_counter() - started)
            stack.call("DELETE", session)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        print(f"create -> awaiting_code over {len(timings)} runs: median "
              f"{statistics.median(timings) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"max {timings[-1] * 1000:.0f} ms")

        started = time.perf_counter()
        sessions = [stack.create("oauth") for _ in range(args.concurrent)]
        for session in sessions:
            stack.wait_state(session, "awaiting_code", timeout=120)
        held = sum(stack.status(s)["state"] == "awaiting_code" for s in sessions)
        print(f"one worker process held {held} sessions waiting for a code at once "
              f"({len(cli_processes())} CLI processes; all up in "
              f"{time.perf_counter() - started:.1f} s)")
        for session in sessions:
            stack.call("DELETE", session)
    finally:
        stop_stack(stack)
        redis_proc.terminate()


if __name__ == "__main__":
    main()
