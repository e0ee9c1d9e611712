"""Shared parts of the benchmark suite: options, statistics, the machine, process
memory, and starting real processes (redis-server, gunicorn, Celery) through
``tests/harness.py``.

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
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The project itself is installed (editable); the test helpers the benchmarks
# share (harness, simulator) live in tests/, which is no package.
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

import redis  # noqa: E402
import requests  # noqa: E402
from harness import (  # noqa: E402
    BIN,
    SIMULATOR,
    Stack,
    cli_processes,
    free_port,
    start_redis,
    wait_for,
)

from vaporforge.keys import KeyKind, key_for  # noqa: E402
from vaporforge.session import lifecycle  # noqa: E402
from vaporforge.session.store import SessionStore  # noqa: E402

__all__ = ["SIMULATOR", "Stack", "cli_processes", "free_port", "wait_for"]

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
        """gunicorn (``-w 2 --threads 4``, as tests/harness.py) and one Celery worker
        on store database ``db`` (flushed; the broker uses db + 1). Started here
        rather than with harness.start_stack so that a slow start on a busy
        machine is waited out and never leaves a process behind."""
        store_url = self.redis_url.rsplit("/", 1)[0] + f"/{db}"
        for number in (db, db + 1):
            self.client(number).flushdb()
        work_dir, log_dir = self.folder / name / "homes", self.folder / name / "logs"
        work_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        full_env = {**os.environ, "REDIS_URL": store_url, "VF_RUNTIME": "local",
                    "VF_LOGIN_COMMAND": login_command or f"{sys.executable} {SIMULATOR}",
                    "VF_WORK_DIR": str(work_dir), "PYTHONUNBUFFERED": "1",
                    "PYTHONPATH": str(ROOT), "VF_CREATE_RATE": UNLIMITED,
                    "VF_POLL_RATE": UNLIMITED, "VF_ACTION_RATE": UNLIMITED,
                    "VF_PROBE_RATE": UNLIMITED, "VF_WORKER_CONCURRENCY": str(concurrency),
                    "VF_LOG_FORMAT": "text",  # figure 1 splits runs by the log's stamps
                    "VF_MAX_SESSIONS": "100000", **(env or {})}
        stack = Stack(f"http://127.0.0.1:{port}", store_url, work_dir, log_dir, full_env)
        try:
            stack.procs.append(self.spawn(
                [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--threads", "4", "api:create_app()"], full_env, f"{name}/logs/api.log"))
            stack.procs.append(self.spawn(
                [str(BIN / "celery"), "-A", "worker", "worker", "--loglevel", "INFO",
                 "--without-mingle", "--without-gossip", "--concurrency", str(concurrency),
                 "--hostname", f"{name}@%h"], full_env, f"{name}/logs/worker.log"))
            wait_for(lambda: _http_ok(stack.url("/healthz")), timeout=60, what="the API")
            wait_for(lambda: "ready." in (log_dir / "worker.log").read_text(errors="replace"),
                     timeout=60, what="the Celery worker")
            yield stack
        finally:
            with contextlib.suppress(Exception):
                end_sessions(stack)
            for proc in reversed(stack.procs):
                self.stop(proc)

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
        wait_for(lambda: _http_ok(base + "/healthz") or proc.poll() is not None,
                 what=f"gunicorn {app}")
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn {app} exited; see {self.folder / log}")
        return proc, base

    def worker(self, stack: Stack, name: str, concurrency: int) -> subprocess.Popen:
        """One more Celery worker process for ``stack``."""
        log = stack.log_dir / f"worker-{name}.log"
        proc = self.spawn([str(BIN / "celery"), "-A", "worker", "worker", "--loglevel", "INFO",
                           "--without-mingle", "--without-gossip", "--concurrency",
                           str(concurrency), "--hostname", f"{name}@%h"],
                          {**stack.env, "VF_WORKER_CONCURRENCY": str(concurrency)},
                          str(log.relative_to(self.folder)))
        wait_for(lambda: "ready." in log.read_text(errors="replace"), timeout=30,
                 what="the extra Celery worker")
        stack.procs.append(proc)
        return proc

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


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


# -- sessions ------------------------------------------------------------------------
class Client:
    """The API as a browser uses it, over one keep-alive connection."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()

    def create(self, mode: str = "oauth") -> dict[str, Any]:
        response = self.http.post(self.stack.url("/api/auth/sessions"), json={"mode": mode},
                                  timeout=30)
        if response.status_code != 202:
            raise RuntimeError(f"create: {response.status_code} {response.text[:200]}")
        return response.json()

    def call(self, method: str, session: dict[str, Any], suffix: str = "",
             **kwargs: Any) -> requests.Response:
        return self.http.request(
            method, self.stack.url(f"/api/auth/sessions/{session['session_id']}{suffix}"),
            headers={"Authorization": f"Bearer {session['session_token']}"}, timeout=30,
            **kwargs)

    def wait_state(self, session: dict[str, Any], states: tuple[str, ...],
                   timeout: float = 60.0, interval: float = 0.005) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.call("GET", session).json()
            if body.get("state") in states:
                return body
            if body.get("state") in ("failed", "expired", "cancelled") or \
                    time.monotonic() > deadline:
                raise RuntimeError(f"never reached {states}: {body}")
            time.sleep(interval)


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


def create_many(client: Client, count: int, threads: int) -> list[str | None]:
    """``count`` creations from ``threads`` threads, one keep-alive client each;
    a session id per creation, None where it was refused."""
    local = threading.local()

    def one(_: int) -> str | None:
        if not hasattr(local, "client"):
            local.client = Client(client.stack)
        try:
            return local.client.create()["session_id"]
        except Exception:  # noqa: BLE001 - a refused creation is counted, not raised
            return None

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))
