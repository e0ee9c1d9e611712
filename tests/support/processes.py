"""Real processes for tests and benchmarks: a redis-server on a free loopback
port, its databases handed out per test, waiting, and finding what is left
(CLI processes, keys without a TTL). Nothing here is a fake."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = Path(__file__).resolve().parent / "cli_simulator.py"
"""The CLI simulator; workers run it by this path (``VF_LOGIN_COMMAND``)."""
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
            raise RuntimeError("out of test databases; raise tests.support.processes.DATABASES")
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
