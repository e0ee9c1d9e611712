"""Shared parts of the benchmark suite: options, statistics, the machine, process
memory, and the real processes (redis-server, gunicorn, Celery), started
through the test kit (:mod:`tests.support`) as the tests start them.

Everything listens on 127.0.0.1 only; nothing here reaches another host.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.support.client import HttpClient
from tests.support.processes import (
    BIN,
    ROOT,
    SIMULATOR,
    cli_processes,
    free_port,
    start_redis,
    wait_for,
)
from tests.support.stack import Stack, add_worker, http_ok, start_stack, stop_stack
from vaporforge.keys import KeyKind, key_for
from vaporforge.session import lifecycle
from vaporforge.session.store import SessionStore

__all__ = ["ROOT", "SIMULATOR", "HttpClient", "Stack", "cli_processes", "free_port", "wait_for"]

CLI_VERSION = (ROOT / "CLAUDE_CODE_VERSION").read_text().strip()
PINNED_CLI = Path.home() / ".cache" / "vaporforge-cli" / CLI_VERSION / "node_modules" / ".bin" \
    / "claude"
PRIVATE_DOCKER = "unix:///var/tmp/vaporforge-docker/docker.sock"
UNLIMITED = "100000000/minute"
"""Rate limits for the bench: the limiter still does all its work, it never refuses."""


@dataclass
class Options:
    quick: bool = False
    only: frozenset[str] = frozenset()
    docker: bool = False
    docker_host: str = ""
    real_cli: str = ""
    notes: list[str] = field(default_factory=list)

    def pick(self, default: Any, quick: Any) -> Any:
        return quick if self.quick else default


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, int(-(-pct * len(ordered) // 100)))  # ceil(pct/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def summary(seconds: list[float]) -> dict[str, Any]:
    """Milliseconds: n, p50, p95, p99, min, max of ``seconds``."""
    if not seconds:
        return {"n": 0}
    return {"n": len(seconds), "p50_ms": round(percentile(seconds, 50) * 1000, 2),
            "p95_ms": round(percentile(seconds, 95) * 1000, 2),
            "p99_ms": round(percentile(seconds, 99) * 1000, 2),
            "min_ms": round(min(seconds) * 1000, 2), "max_ms": round(max(seconds) * 1000, 2)}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else "unknown"


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    meminfo = Path("/proc/meminfo").read_text()
    versions = {}
    for name, argv in {"redis": ["redis-server", "--version"], "wrk": ["wrk", "-v"],
                       "gunicorn": [str(BIN / "gunicorn"), "--version"]}.items():
        with contextlib.suppress(OSError):
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            text = (out.stdout + out.stderr).strip()
            found = re.search(r"(\d+\.\d+\.\d+)", text)
            versions[name] = f"{name} {found.group(1) if found else text[:40]}"
    return {"nproc": os.cpu_count(), "cpu_model": _first(r"^model name\s*:\s*(.*)$", cpuinfo),
            "memory_gib": round(int(_first(r"^MemTotal:\s*(\d+)", meminfo)) / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_start": os.getloadavg(), **versions}


# -- processes -----------------------------------------------------------------------
class Lab:
    """One redis-server and a scratch folder for the whole run; every process
    started through it is stopped on exit, whatever happens."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vf-bench-"))
        self.redis_proc, self.redis_url = start_redis(self.folder)
        self.port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        self._procs: list[subprocess.Popen] = []

    def client(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, decode_responses=True)

    @contextlib.contextmanager
    def stack(self, name: str, db: int, login_command: str | None = None,
              concurrency: int = 16, env: dict[str, str] | None = None) -> Iterator[Stack]:
        """The tests' stack (:func:`tests.support.start_stack`) on store database
        ``db`` (flushed; the broker uses db + 1), with a minute to start on a busy
        machine; every session is ended and every process stopped on exit."""
        store_url = self.redis_url.rsplit("/", 1)[0] + f"/{db}"
        for number in (db, db + 1):
            self.client(number).flushdb()
        stack = start_stack(
            store_url, self.folder, name, login_command=login_command,
            concurrency=concurrency, timeout=60,
            extra_env={"VF_CREATE_RATE": UNLIMITED, "VF_POLL_RATE": UNLIMITED,
                       "VF_ACTION_RATE": UNLIMITED, "VF_PROBE_RATE": UNLIMITED,
                       "VF_WORKER_CONCURRENCY": str(concurrency),
                       "VF_LOG_FORMAT": "text",  # figure 1 splits runs by the log's stamps
                       "VF_MAX_SESSIONS": "100000", **(env or {})})
        try:
            yield stack
        finally:
            with contextlib.suppress(Exception):
                end_sessions(stack)
            stop_stack(stack)

    def spawn(self, argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
        """A process stopped (SIGTERM, then SIGKILL) when the lab closes, if not before."""
        handle = open(self.folder / log, "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT)
        self._procs.append(proc)
        return proc

    def gunicorn(self, app: str, env: dict[str, str], workers: int, threads: int,
                 worker_class: str, log: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        proc = self.spawn([str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}",
                           "--workers", str(workers), "--threads", str(threads),
                           "--worker-class", worker_class,
                           "--log-level", "warning", app], env, log)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(base + "/healthz") or proc.poll() is not None,
                 what=f"gunicorn {app}")
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn {app} exited; see {self.folder / log}")
        return proc, base

    def worker(self, stack: Stack, name: str, concurrency: int) -> subprocess.Popen:
        """One more Celery worker process for ``stack`` (stopped with it)."""
        return add_worker(stack, name, concurrency,
                          extra_env={"VF_WORKER_CONCURRENCY": str(concurrency)})

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in list(self._procs):
            self.stop(proc)
        self.redis_proc.terminate()
        self.redis_proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


# -- sessions ------------------------------------------------------------------------
def states(client: redis.Redis, session_ids: list[str]) -> list[str | None]:
    """Each session's state read straight from the store (one round trip)."""
    with client.pipeline(transaction=False) as pipe:
        for sid in session_ids:
            pipe.hget(key_for("vf", KeyKind.SESSION, sid), "state")
        return pipe.execute()


def end_sessions(stack: Stack) -> None:
    """Cancel every live session of ``stack`` (as DELETE does) and wait for their
    local HOMEs to go."""
    store = SessionStore(redis.Redis.from_url(stack.redis_url, decode_responses=True))
    live = store.live_session_ids()
    for sid in live:
        lifecycle.cancel(store, sid)
    if live:
        with contextlib.suppress(AssertionError):
            wait_for(lambda: not any(stack.work_dir.iterdir()), timeout=30,
                     what="every login HOME to go")


def create_many(client: HttpClient, count: int, threads: int) -> list[str | None]:
    """``count`` creations from ``threads`` threads, one keep-alive client each;
    a session id per creation, None where it was refused."""
    local = threading.local()

    def one(_: int) -> str | None:
        if not hasattr(local, "client"):
            local.client = HttpClient(client.stack)
        try:
            return local.client.create()["session_id"]
        except Exception:  # noqa: BLE001 - a refused creation is counted, not raised
            return None

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))
