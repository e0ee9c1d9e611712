"""Figure 1: time to URL, through the broker and for the bare CLI, in one run.

Broker: ``POST /api/auth/sessions`` until ``GET`` shows ``awaiting_code``
(polled every 5 ms over one keep-alive connection), through gunicorn, Celery and
Redis. Bare (the ceiling): the same command spawned in a 500-column PTY and
timed until its OSC 8 sign-in URL and its code prompt are on screen, behind the
same wrapper: the real CLI locally under ``unshare --net`` (an empty network
namespace, as the broker's tests run it), and in Docker a ``docker run -it
--network none`` with the runtime's hardening flags. For Docker, the worker's
runtime alone (create, start, exec, read the URL; no API, Celery or Redis) is
timed too, to split the broker's share; and each broker run is split with the
worker's log stamps (ms): POST → task received (API + Celery queue), received
→ URL stored (runtime, CLI start, driver), stored → seen by the 5 ms poll. The
runs alternate, so all see the same machine load. Nothing reaches the internet.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import docker
import pexpect

from bench.common import SIMULATOR, HttpClient, Lab, Options, ratio, summary, wait_for
from vaporforge import cli_output
from vaporforge.session.states import LoginMode
from worker.driver import LoginDriver
from worker.login import BASE_ENV
from worker.runtimes.base import SpawnSpec
from worker.runtimes.docker_runtime import DockerRuntime

SIM_IN_IMAGE = "python3 /opt/vaporforge/cli_simulator.py"
HARDENING = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
             "--tmpfs", "/home/login:rw,noexec,nosuid,nodev,size=32m,mode=0700,uid=10001,"
             "gid=10001", "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=16m,mode=1777",
             "--memory", "512m", "--cpus", "1", "--pids-limit", "128", "--log-driver", "none"]


@dataclass
class Setup:
    """One broker stack (a runtime and a CLI) and its bare counterpart."""

    name: str
    runtime: str
    cli: str
    login_command: str
    modes: list[LoginMode]
    env: dict[str, str] = field(default_factory=dict)
    image: str = ""

    def bare_argv(self, mode: LoginMode, container: str) -> list[str]:
        argv = [*self.login_command.split(), *mode.cli_args]
        if self.runtime == "local":
            return argv
        env_flags = [f for k, v in BASE_ENV.items() for f in ("-e", f"{k}={v}")]
        return ["docker", "run", "--rm", "-it", "--name", container, "--network", "none",
                "--label", "vaporforge.bench=1", *HARDENING, *env_flags, self.image, *argv]


def setups(opts: Options) -> list[Setup]:
    real = [LoginMode.OAUTH, LoginMode.SETUP_TOKEN]
    found = [Setup("simulator, local", "local", "simulator", f"{sys.executable} {SIMULATOR}",
                   [LoginMode.OAUTH])]
    if opts.real_cli:
        found.append(Setup("real CLI, local", "local", "real",
                           f"unshare --net -- {opts.real_cli}", real))
    if opts.docker:
        docker_env = {"VF_RUNTIME": "docker", "VF_DOCKER_NETWORK": "none"}
        found.append(Setup("simulator, Docker", "docker", "simulator", SIM_IN_IMAGE,
                           [LoginMode.OAUTH],
                           {**docker_env, "VF_LOGIN_IMAGE": "vaporforge/login-test:latest"},
                           "vaporforge/login-test:latest"))
        if opts.real_cli:
            found.append(Setup("real CLI, Docker", "docker", "real", "claude", real,
                               {**docker_env, "VF_LOGIN_IMAGE": "vaporforge/login:latest"},
                               "vaporforge/login:latest"))
    return found


def bare_once(setup: Setup, mode: LoginMode) -> float:
    home = tempfile.mkdtemp(prefix="vf-bench-home-")
    env = {"PATH": os.environ["PATH"], "HOME": home, **BASE_ENV}
    if setup.runtime == "docker":
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    container = f"vf-bench-{uuid.uuid4().hex[:12]}"
    argv = setup.bare_argv(mode, container)
    started = time.perf_counter()
    child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=home, dimensions=(50, 500),
                          encoding="utf-8", codec_errors="replace")
    output = ""
    try:
        deadline = started + 60
        while not (cli_output.sign_in_url(output)[0] and cli_output.prompt_ready(output, mode)):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"bare {setup.name}: no URL and prompt within 60 s")
            output += child.read_nonblocking(65536, timeout=30)
        return time.perf_counter() - started
    finally:
        child.close(force=True)
        if setup.runtime == "docker":
            remove_container(container)
        with contextlib.suppress(OSError):
            shutil.rmtree(home)


def remove_container(name: str) -> None:
    client = docker.DockerClient(os.environ["DOCKER_HOST"], timeout=30)
    try:
        client.api.remove_container(name, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:  # `--rm` is already removing it
        if exc.status_code != 409:
            raise
    finally:
        client.close()


def login_containers() -> int:
    client = docker.DockerClient(os.environ["DOCKER_HOST"], timeout=30)
    try:
        return len(client.api.containers(all=True, filters={"label": "vaporforge.session"}))
    finally:
        client.close()


def runtime_once(setup: Setup, mode: LoginMode) -> float:
    """Docker only: the worker's runtime alone (SDK create + start + exec, driver
    until URL and prompt), without API, Celery or Redis."""
    runtime = DockerRuntime(setup.image, network="none", base_url=os.environ["DOCKER_HOST"])
    started = time.perf_counter()
    place = runtime.start(f"bench-{uuid.uuid4().hex[:8]}", int(time.time()) + 120)
    try:
        spec = SpawnSpec((*setup.login_command.split(), *mode.cli_args), dict(BASE_ENV))
        LoginDriver(place.spawn(spec), mode).read_url(60)
        return time.perf_counter() - started
    finally:
        place.stop()


_TEXT_TIME = r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): INFO/[^\]]+\] "


def _log_time(log: str, pattern: str) -> float | None:
    """When the worker logged a line matching ``pattern`` (its JSON log, the
    default, or ``VF_LOG_FORMAT=text``)."""
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            found = re.search(_TEXT_TIME + ".*?" + pattern, line)
            stamp = found.group(1) if found else None
        else:
            matched = isinstance(entry, dict) and re.search(pattern, str(entry.get("message")))
            stamp = entry.get("time") if matched else None
        if stamp:
            return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def broker_once(client: HttpClient, setup: Setup, mode: LoginMode,
                phases: dict[str, list[float]]) -> float:
    """One create → URL through the broker; ``phases`` gets its split from the
    worker's log (millisecond stamps): POST → task received, received → URL
    stored, stored → seen by the poll."""
    log_path = client.stack.log_dir / "worker.log"
    offset = log_path.stat().st_size
    started, wall = time.perf_counter(), time.time()
    session = client.create(mode.value)
    client.wait_state(session, "awaiting_code", interval=0.005)
    elapsed = time.perf_counter() - started
    seen = time.time()
    with open(log_path, errors="replace") as fh:
        fh.seek(offset)
        log = fh.read()
    received = _log_time(log, r"Task \S+ received")
    stored = _log_time(log, f"session {re.escape(session['session_id'])} awaiting code")
    if received and stored:
        phases["queue"].append(received - wall)
        phases["cli"].append(stored - received)
        phases["seen"].append(seen - stored)
    client.call("DELETE", session)
    # The next run starts once this CLI (or container) is gone.
    if setup.runtime == "local":
        wait_for(lambda: not any(client.stack.work_dir.iterdir()), timeout=20,
                 interval=0.01, what="the login HOME to go")
    else:
        wait_for(lambda: login_containers() == 0, timeout=30, interval=0.05,
                 what="the login container to go")
    return elapsed


def warm_once(client: HttpClient, setup: Setup, mode: LoginMode) -> float:
    """One create through the broker with a warm entry waiting: until the broker
    shows the URL (the POST's own answer, or the first poll that does)."""
    def offered() -> bool:
        ready = client.http.get(client.stack.url("/readyz"), timeout=10).json()
        return ready.get("warm", {}).get(mode.value, 0) >= 1

    wait_for(offered, timeout=60, interval=0.02, what="a warm entry")  # not timed
    started = time.perf_counter()
    session = client.create(mode.value)
    if session["state"] != "awaiting_code":  # no entry after all: the cold path
        client.wait_state(session, "awaiting_code", interval=0.005)
    elapsed = time.perf_counter() - started
    client.call("DELETE", session)
    return elapsed


def _sample(into: list[float], failures: list[str], what: str,
            measure: Callable[[], float]) -> None:
    """One timing into ``into``; a run that fails is recorded, not fatal (a busy
    machine can make a CLI miss its start)."""
    try:
        into.append(measure())
    except Exception as exc:  # noqa: BLE001 - kept as a figure, with its reason
        failures.append(f"{what}: {type(exc).__name__}: {exc}"[:300])


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    runs = opts.pick(10, 2)
    rows: list[dict[str, Any]] = []
    for setup in setups(opts):
        with lab.stack(f"url-{setup.runtime}-{setup.cli}", db=6,
                       login_command=setup.login_command, env=setup.env) as stack:
            client = HttpClient(stack)
            for mode in setup.modes:
                bare_once(setup, mode)  # warm-up: page cache, image layers, imports
                phases: dict[str, list[float]] = {"queue": [], "cli": [], "seen": []}
                broker_once(client, setup, mode, phases)
                phases = {name: [] for name in phases}
                bare: list[float] = []
                broker: list[float] = []
                runtime: list[float] = []
                failures: list[str] = []
                for _ in range(runs):
                    _sample(bare, failures, "bare", partial(bare_once, setup, mode))
                    _sample(broker, failures, "broker",
                            partial(broker_once, client, setup, mode, phases))
                    if setup.runtime == "docker":
                        _sample(runtime, failures, "runtime",
                                partial(runtime_once, setup, mode))
                row: dict[str, Any] = {
                    "setup": setup.name, "runtime": setup.runtime, "cli": setup.cli,
                    "mode": mode.value, "bare": summary(bare), "broker": summary(broker),
                    "runtime_only": summary(runtime), "failures": failures,
                    "phases_p50_ms": {name: summary(v).get("p50_ms")
                                      for name, v in phases.items()}}
                b, k = row["bare"], row["broker"]
                row["ratio_p50"] = ratio(k.get("p50_ms"), b.get("p50_ms"))
                row["ratio_p95"] = ratio(k.get("p95_ms"), b.get("p95_ms"))
                row["added_p50_ms"] = (round(k["p50_ms"] - b["p50_ms"], 1)
                                       if b["n"] and k["n"] else None)
                rows.append(row)
                print(f"  url {setup.name} {mode.value}: bare p50 {b.get('p50_ms')} ms, "
                      f"broker p50 {k.get('p50_ms')} ms, {len(failures)} failed", flush=True)
        # The same setup with a warm pool of one entry per mode (VF_WARM_POOL).
        pool = ",".join(f"{mode.value}:1" for mode in setup.modes)
        with lab.stack(f"warm-{setup.runtime}-{setup.cli}", db=10,
                       login_command=setup.login_command,
                       env={**setup.env, "VF_WARM_POOL": pool}) as stack:
            client = HttpClient(stack)
            for row in (r for r in rows if r["setup"] == setup.name):
                mode = LoginMode(row["mode"])
                warm: list[float] = []
                for _ in range(runs):
                    _sample(warm, row["failures"], "warm", partial(warm_once, client, setup,
                                                                    mode))
                row["warm"] = summary(warm)
                row["warm_speedup_p50"] = ratio(row["bare"].get("p50_ms"),
                                                row["warm"].get("p50_ms"))
                print(f"  url {setup.name} {mode.value} warm: p50 "
                      f"{row['warm'].get('p50_ms')} ms", flush=True)
    if not opts.real_cli:
        opts.notes.append("figure 1: no real CLI (pass --real-cli or install the pinned one)")
    if not opts.docker:
        opts.notes.append("figure 1: no Docker engine with the login images; Docker rows "
                          "skipped")
    return {"runs": runs, "poll_interval_ms": 5, "rows": rows}
