"""The real CLI's spawn-to-URL time: bare versus through the broker, per mode and runtime.

Bare: the CLI under pexpect (local: in an empty network namespace; docker: a
`docker run -it --network none` of the login image), timed until its OSC 8
sign-in URL and its code prompt are on screen. Broker: POST /api/auth/sessions
until GET shows awaiting_code, through gunicorn, Celery and Redis.

    VF_REAL_CLI=~/.cache/vaporforge-cli/2.1.332/node_modules/.bin/claude \\
        .venv/bin/python bench/real_cli.py [--runs 10] [--docker]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from harness import start_redis, start_stack, stop_stack  # noqa: E402

from vaporforge import cli_output  # noqa: E402
from vaporforge.states import LoginMode  # noqa: E402
from worker.login import BASE_ENV  # noqa: E402

MODES = [LoginMode.OAUTH, LoginMode.CONSOLE, LoginMode.SETUP_TOKEN]


def bare_once(argv: list[str], mode: LoginMode) -> float:
    home = tempfile.mkdtemp(prefix="vf-bench-home-")
    env = {"PATH": os.environ["PATH"], "HOME": home, **BASE_ENV}
    if "DOCKER_HOST" in os.environ:
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    started = time.perf_counter()
    child = pexpect.spawn(argv[0], [*argv[1:], *mode.cli_args], env=env, cwd=home,
                          dimensions=(50, 500), encoding="utf-8", codec_errors="replace")
    output = ""
    try:
        while not (cli_output.sign_in_url(output)[0] and cli_output.prompt_ready(output, mode)):
            output += child.read_nonblocking(65536, timeout=30)
        return time.perf_counter() - started
    finally:
        child.close(force=True)


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, " \
           f"max {max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--docker", action="store_true")
    args = parser.parse_args()
    cli = os.environ["VF_REAL_CLI"]
    runtimes = {"local": (["unshare", "--net", "--", cli], f"unshare --net -- {cli}", {})}
    if args.docker:
        env_flags = [f for k, v in BASE_ENV.items() for f in ("-e", f"{k}={v}")]
        runtimes["docker"] = (
            ["docker", "run", "--rm", "-it", "--network", "none", *env_flags,
             "vaporforge/login:latest", "claude"], "claude",
            {"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": "vaporforge/login:latest",
             "VF_DOCKER_NETWORK": "none"})
    folder = Path(tempfile.mkdtemp(prefix="vf-bench-"))
    redis_proc, redis_url = start_redis(folder)
    try:
        for name, (bare_argv, command, env) in runtimes.items():
            stack = start_stack(redis_url, folder, f"bench-{name}", db=2, login_command=command,
                                extra_env=env)
            try:
                for mode in MODES:
                    bare = [bare_once(bare_argv, mode) for _ in range(args.runs)]
                    broker = []
                    for _ in range(args.runs):
                        started = time.perf_counter()
                        session = stack.create(mode.value)
                        stack.wait_state(session, "awaiting_code", timeout=60, interval=0.005)
                        broker.append(time.perf_counter() - started)
                        stack.call("DELETE", session)
                    print(f"{name:6} {mode.value:11} bare CLI: {summary(bare)}; "
                          f"through the broker: {summary(broker)}")
            finally:
                stop_stack(stack)
    finally:
        redis_proc.terminate()


if __name__ == "__main__":
    main()
