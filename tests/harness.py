"""Starting the broker's real processes for tests and benchmarks.

A redis-server, gunicorn and Celery workers on free loopback ports, in
throwaway folders; nothing here is a fake.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR = ROOT / "tests" / "cli_simulator.py"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed; run the README's test command")
    return exe


def start_redis(folder: Path, port: int | None = None, args: Sequence[str] = (),
                password: str | None = None) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free loopback port (``args`` are added to its command
    line); returns it and the URL of its database 0."""
    port = port or free_port()
    proc = subprocess.Popen(
        [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--protected-mode", "yes",
         "--databases", str(DATABASES), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=password)
    wait_for(lambda: _pings(client), what="redis-server")
    return proc, f"redis://127.0.0.1:{port}/0"


DATABASES = 256


class Databases:
    """Hands out an empty pair of databases (store, broker = store + 1) per test
    stack or test, so no test shares or hand-numbers one; ``release`` empties a
    pair and takes it back."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rsplit("/", 1)[0]
        self.free = list(range(0, DATABASES, 2))
        self.held: set[str] = set()

    def allocate(self) -> str:
        if not self.free:
            raise RuntimeError("out of test databases; raise harness.DATABASES")
        url = f"{self.server_url}/{self.free.pop(0)}"
        self.held.add(url)
        return url

    def release(self, url: str) -> None:
        for target in (url, broker_url_for(url)):
            redis.Redis.from_url(target).flushdb()
        self.held.discard(url)
        self.free.append(int(url.rsplit("/", 1)[1]))


def broker_url_for(store_url: str) -> str:
    base, db = store_url.rsplit("/", 1)
    return f"{base}/{int(db) + 1}"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@dataclass
class Stack:
    """One API process and one worker process sharing a Redis, as in production."""

    base_url: str
    redis_url: str
    work_dir: Path
    log_dir: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def create(self, mode: str | None = "oauth", headers: dict | None = None, **extra) -> dict:
        body = {} if mode is None else {"mode": mode}
        body.update(extra)
        response = requests.post(self.url("/api/auth/sessions"), json=body, timeout=10,
                                 headers=headers)
        assert response.status_code == 202, response.text
        return response.json()

    def call(self, method: str, session: dict, suffix: str = "", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {session['session_token']}"}
        headers.update(kwargs.pop("headers", {}))
        return requests.request(method, self.url(f"/api/auth/sessions/{session['session_id']}"
                                                 f"{suffix}"), headers=headers, timeout=30,
                                **kwargs)

    def status(self, session: dict) -> dict:
        response = self.call("GET", session)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_state(self, session: dict, *states: str, timeout: float = 20.0,
                   interval: float = 0.05) -> dict:
        seen: list[dict] = []

        def reached():
            seen.append(self.status(session))
            return seen[-1] if seen[-1]["state"] in states else None
        try:
            return wait_for(reached, timeout=timeout, interval=interval,
                            what=f"state in {states}")
        except AssertionError:
            raise AssertionError(f"never reached {states}; last seen {seen[-1:]}") from None

    def sign_in(self, mode: str, code: str) -> tuple[dict, requests.Response]:
        """A whole login as a browser runs it: create, wait for the URL, paste
        ``code``, wait for ``ready``, claim. The session and the claim's answer."""
        session = self.create(mode)
        self.wait_state(session, "awaiting_code")
        pasted = self.call("POST", session, "/code", json={"code": code})
        assert pasted.status_code == 202, pasted.text
        self.wait_state(session, "ready")
        return session, self.call("POST", session, "/credentials")

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def start_stack(store_url: str, root: Path, name: str,
                extra_env: dict[str, str] | None = None,
                login_command: str | None = None, concurrency: int = 16,
                worker: bool = True) -> Stack:
    """Start gunicorn and one Celery worker on ``store_url`` (a database from
    :class:`Databases`); the broker uses the next database."""
    work_dir = root / name / "homes"
    log_dir = root / name / "logs"
    work_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "REDIS_URL": store_url, "VF_BROKER_URL": broker_url_for(store_url),
           "VF_LOGIN_COMMAND": login_command or f"{sys.executable} {SIMULATOR}",
           "VF_WORK_DIR": str(work_dir), "VF_RUNTIME": "local", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT), "VF_CREATE_RATE": "100000/minute",
           "VF_POLL_RATE": "100000/minute", "VF_ACTION_RATE": "100000/minute",
           "VF_PROBE_RATE": "100000/minute",
           # Most tests claim plaintext; the sealed path has its own tests.
           "VF_REQUIRE_CLIENT_KEY": "false",
           **(extra_env or {})}
    stack = Stack(f"http://127.0.0.1:{port}", store_url, work_dir, log_dir, env)
    api_log = open(log_dir / "api.log", "w")  # noqa: SIM115 - closed with the process
    stack.procs.append(subprocess.Popen(
        [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4", "api:create_app()"],
        cwd=ROOT, env=env, stdout=api_log, stderr=subprocess.STDOUT))
    if not worker:
        wait_for(lambda: _http_ok(stack.url("/healthz")), what="the API")
        return stack
    add_worker(stack, name, concurrency)
    wait_for(lambda: _http_ok(stack.url("/healthz")), what="the API")
    return stack


def add_worker(stack: Stack, name: str, concurrency: int = 16,
               extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start one more Celery worker process on the stack (log: ``<name>.worker.log``)."""
    log_path = stack.log_dir / ("worker.log" if not stack.workers else f"{name}.worker.log")
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", "worker", "worker", "--loglevel", "INFO",
         "--without-mingle", "--without-gossip", "--concurrency", str(concurrency),
         "--hostname", f"{name}-{len(stack.workers)}@%h"],
        cwd=ROOT, env={**stack.env, **(extra_env or {})}, stdout=log,
        stderr=subprocess.STDOUT)
    stack.procs.append(proc)
    stack.workers.append(proc)
    wait_for(lambda: "ready." in log_path.read_text(errors="replace"), timeout=30,
             what="the Celery worker")
    return proc


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or still loading the app
        return False


def stop_stack(stack: Stack) -> None:
    for proc in stack.procs:
        proc.send_signal(signal.SIGTERM)
    for proc in stack.procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cli_processes(marker: str = str(SIMULATOR), within: Path | None = None) -> list[int]:
    """CLI processes (``marker`` in their command line); with ``within``, only
    those whose working directory (the login HOME) is below that folder."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if within is not None and not os.readlink(f"/proc/{pid}/cwd").startswith(
                    str(within)):
                continue
        except OSError:
            continue
        if marker.encode() in cmdline and b"pytest" not in cmdline:
            found.append(int(pid))
    return found


def keys_without_ttl(client: redis.Redis) -> list[str]:
    return [key for key in client.scan_iter(count=1000) if client.ttl(key) == -1]




def redis_dump(redis_url: str) -> bytes:
    """Every key name and value in every database of the server, as bytes."""
    readers = {"string": lambda c, n: c.get(n), "hash": lambda c, n: c.hgetall(n),
               "list": lambda c, n: c.lrange(n, 0, -1), "zset": lambda c, n: c.zrange(n, 0, -1),
               "set": lambda c, n: c.smembers(n)}
    seen: list[bytes] = []
    for db in range(DATABASES):
        conn = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{db}")
        for name in conn.scan_iter():
            read = readers.get(conn.type(name).decode(), lambda c, n: b"")
            seen += [name, repr(read(conn, name)).encode()]
    return b"\n".join(seen)
