"""`make dev` stops in seconds: Ctrl-C with one login waiting for its code.

``scripts/dev.sh --simulator`` runs in its own process group, as under a
terminal, on free ports (the API's and a Redis URL nobody answers, so dev.sh
starts its own redis-server). One sealed login reaches ``awaiting_code``; then
SIGINT goes to the whole group, as the terminal's Ctrl-C does. Within 10 s
(issue 20's bound, a functional one) every process is gone, redis-server too;
the login ended as ``worker_shutdown`` (the worker's audit line, written while
Redis still answered), and nothing in dev.sh's output says a Redis call failed.
The seconds it took are printed (run with -s).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey

from tests.support.client import ApiCalls
from tests.support.processes import ROOT, free_port, wait_for

pytestmark = pytest.mark.stack

STOP_BOUND = 10.0
"""Issue 20: Ctrl-C ends everything within 10 s with one login waiting."""


class DevApi(ApiCalls):
    """The dev API over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.base_url + path, timeout=10, **kwargs)


def leftovers(pgid: int, marker: str, folder: Path, redis_port: int) -> list[str]:
    """Live (not zombie) processes of dev.sh's: in its process group, or carrying
    ``marker`` in their environment (dev.sh starts each of its own in a session of
    its own), or working under ``folder`` (the logins' CLIs), or the redis-server
    on ``redis_port`` (its process title overwrites its environment). ``pid
    command`` each."""
    title = f"redis-server 127.0.0.1:{redis_port}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            command = (entry / "cmdline").read_bytes()
            ours = (int(pgrp) == pgid or command.startswith(title)
                    or marker.encode() in (entry / "environ").read_bytes()
                    or Path(os.readlink(entry / "cwd")).is_relative_to(folder))
            if ours and state != "Z":
                found.append(f"{entry.name} {command!r}")
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def audit_events(text: str) -> list[dict[str, Any]]:
    """The events of the ``vaporforge.audit`` lines in the processes' JSON logs."""
    events = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("logger") == "vaporforge.audit":
            events.append(json.loads(record["message"]))
    return events


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_ctrl_c_with_a_waiting_login_stops_everything_within_10_s(tmp_path):
    api_port, redis_port = free_port(), free_port()
    assert not answers(redis_port)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VF_LOGIN_COMMAND")}
    marker = f"dev-stop-{uuid.uuid4().hex}"
    env.update(VF_DEV_STOP_TEST=marker, VF_DEV_PORT=str(api_port), REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
               VF_VENV=sys.prefix, VF_REQUIRE_CLIENT_KEY="true", PYTHONUNBUFFERED="1",
               VF_WORK_DIR=str(tmp_path / "homes"))
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        dev = subprocess.Popen(["bash", "scripts/dev.sh", "--simulator"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    pgid = dev.pid

    def output() -> str:
        return log_path.read_text(errors="replace")

    try:
        try:
            wait_for(lambda: healthy(f"http://127.0.0.1:{api_port}/healthz"), timeout=60,
                     interval=0.2, what="dev.sh's API")
            wait_for(lambda: "ready." in output(), timeout=60, interval=0.2,
                     what="dev.sh's Celery worker")
        except AssertionError:
            raise AssertionError(output()) from None
        api = DevApi(f"http://127.0.0.1:{api_port}")
        key = ECKey.generate_key("P-256")
        session = api.create("oauth", client_public_key=key.as_dict(private=False))
        api.wait_state(session, "awaiting_code", timeout=30)

        running = " ".join(leftovers(pgid, marker, tmp_path, redis_port))
        for name in ("redis-server", "celery", "gunicorn", "cli_simulator.py"):
            assert name in running, running  # what must be gone is seen while it runs

        os.killpg(pgid, signal.SIGINT)  # the terminal's Ctrl-C
        started = time.monotonic()
        while (leftovers(pgid, marker, tmp_path, redis_port) or answers(redis_port)) and \
                time.monotonic() - started < 60:
            time.sleep(0.05)
        seconds = time.monotonic() - started
        print(f"dev.sh: Ctrl-C with one waiting login stopped everything in {seconds:.1f} s")
        assert leftovers(pgid, marker, tmp_path, redis_port) == [], output()[-20000:]
        assert not answers(redis_port), "redis-server still answers"
        assert seconds < STOP_BOUND, output()[-20000:]
        assert dev.wait(5) == 130
    finally:  # a failed test leaves nothing running: dev.sh's own stop, then SIGKILL
        if dev.poll() is None:
            dev.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                dev.wait(30)
        for left in leftovers(pgid, marker, tmp_path, redis_port):
            os.kill(int(left.split()[0]), signal.SIGKILL)
        dev.wait(5)

    text = output()
    ended = [event["data"].get("error_code") for event in audit_events(text)
             if event["data"]["session_id"] == session["session_id"]
             and event["type"] in ("login.failed", "login.ready", "login.cancelled")]
    assert ended == ["worker_shutdown"], text[-20000:]
    for sign in ("could not", "heartbeat", "Traceback", "Connection refused"):
        assert sign not in text, text[-20000:]
