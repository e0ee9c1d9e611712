"""What one anonymous address can make the broker hold: logins per address per minute.

    python -m bench.anonymous_cost [--source DIR] [--seconds 60] [--forwarded-for ADDR]

Starts a loopback stack (redis-server, gunicorn ``api:create_app()``, one Celery
worker with the CLI simulator) from the code in ``--source`` (default: this
checkout; e.g. ``git archive main | tar -x -C /tmp/vf-main`` for the code before
connect tickets) with production defaults (``VF_CREATE_RATE`` etc. unset), then runs
the security review's loop: bare ``curl -X POST /api/auth/sessions`` calls from
one address, with no ticket and no body, for ``--seconds``. With
``--forwarded-for`` the API trusts one proxy hop (``VF_TRUSTED_PROXIES=1``) and
every call says it comes from that address (default 203.0.113.5, a public one).

Prints one JSON object: calls made, answers by status and code, logins started
(202) and the logins still held when the loop ends (live sessions and CLI
processes) — scaled to one minute. Only loopback is used.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.processes import (
    BIN,
    ROOT,
    SIMULATOR,
    broker_url_for,
    cli_processes,
    free_port,
    start_redis,
    wait_for,
)
from tests.support.stack import http_ok
from vaporforge.session.store import SessionStore


def _curl(url: str, forwarded_for: str) -> tuple[int, str]:
    command = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", url]
    if forwarded_for:
        command += ["-H", f"X-Forwarded-For: {forwarded_for}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=30).stdout
    body, _, status = out.rpartition("\n")
    try:
        code = json.loads(body).get("error", {}).get("code", "") if body else ""
    except ValueError:
        code = ""
    return int(status or 0), code


def measure(source: Path, seconds: float, forwarded_for: str) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="vf-anon-"))
    redis_proc, store_url = start_redis(folder)
    port = free_port()
    env = {**os.environ, "REDIS_URL": store_url, "VF_BROKER_URL": broker_url_for(store_url),
           "VF_LOGIN_COMMAND": f"{BIN / 'python'} {SIMULATOR}", "VF_RUNTIME": "local",
           "VF_WORK_DIR": str(folder / "homes"), "PYTHONPATH": str(source),
           "VF_REQUIRE_CLIENT_KEY": "false", "VF_LOG_FORMAT": "text"}
    if forwarded_for:
        env["VF_TRUSTED_PROXIES"] = "1"
    logs = open(folder / "stack.log", "w")  # noqa: SIM115 - closed below
    procs = [subprocess.Popen([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                               "--workers", "2", "--threads", "4", "api:create_app()"],
                              cwd=source, env=env, stdout=logs, stderr=subprocess.STDOUT),
             subprocess.Popen([str(BIN / "celery"), "-A", "worker", "worker",
                               "--without-mingle", "--without-gossip"],
                              cwd=source, env=env, stdout=logs, stderr=subprocess.STDOUT)]
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(base + "/healthz"), timeout=30, what="the API")
        time.sleep(3)  # the worker registers its capacity
        answers: collections.Counter[str] = collections.Counter()
        started = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            status, code = _curl(base + "/api/auth/sessions", forwarded_for)
            answers[f"{status} {code}".strip()] += 1
            started += status == 202
        time.sleep(2)  # the last logins' CLIs start
        with redis.Redis.from_url(store_url, decode_responses=True) as client:
            live = len(SessionStore(client).live_session_ids())  # the default VF_KEY_PREFIX
        held_clis = len(cli_processes(within=folder))
        per_minute = 60.0 / seconds
        return {"source": str(source), "forwarded_for": forwarded_for or "(loopback)",
                "seconds": seconds, "calls": sum(answers.values()), "answers": dict(answers),
                "logins_started": started, "live_sessions_at_end": live,
                "cli_processes_at_end": held_clis,
                "logins_held_per_address_per_minute": round(live * per_minute, 1)}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis_proc.terminate()
        redis_proc.wait(10)
        logs.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--forwarded-for", default="")
    args = parser.parse_args()
    print(json.dumps(measure(args.source.resolve(), args.seconds, args.forwarded_for)))


if __name__ == "__main__":
    main()
