"""DockerRuntime figures on the engine at $DOCKER_HOST.

- round trip: create a hardened login container, exec `true` through a TTY
  socket, remove it;
- container start to sign-in URL: create, exec the CLI (`auth login`), until its
  OSC 8 URL and prompt show (the real CLI from vaporforge/login:latest, and the
  simulator from vaporforge/login-test:latest), then remove.

    eval "$(scripts/docker-engine.sh start)"; .venv/bin/python bench/docker_runtime.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pexpect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vaporforge import cli_output
from vaporforge.states import LoginMode
from worker.driver import LoginDriver
from worker.login import BASE_ENV
from worker.runtimes.base import SpawnSpec
from worker.runtimes.docker_runtime import DockerRuntime


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})")


def round_trip(runtime: DockerRuntime) -> float:
    started = time.perf_counter()
    place = runtime.start("bench-roundtrip", int(time.time()) + 60)
    try:
        place.spawn(SpawnSpec(("true",))).expect(pexpect.EOF, timeout=10)
    finally:
        place.stop()
    return time.perf_counter() - started


def start_to_url(runtime: DockerRuntime, argv: tuple[str, ...]) -> float:
    started = time.perf_counter()
    place = runtime.start("bench-url", int(time.time()) + 60)
    try:
        driver = LoginDriver(place.spawn(SpawnSpec((*argv, "auth", "login"), dict(BASE_ENV))),
                             LoginMode.OAUTH)
        assert cli_output.url_problem(driver.read_url(30)) is None
        return time.perf_counter() - started
    finally:
        place.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    base = os.environ.get("DOCKER_HOST")
    real = DockerRuntime("vaporforge/login:latest", network="none", base_url=base)
    sim = DockerRuntime("vaporforge/login-test:latest", network="none", base_url=base)
    print("round trip (create, exec true, remove):",
          ms([round_trip(real) for _ in range(args.runs)]))
    print("container start -> URL, real CLI 2.1.332:",
          ms([start_to_url(real, ("claude",)) for _ in range(args.runs)]))
    print("container start -> URL, simulator:",
          ms([start_to_url(sim, ("python3", "/opt/vaporforge/cli_simulator.py"))
              for _ in range(args.runs)]))


if __name__ == "__main__":
    main()
