"""Slow-header clients against the API, straight on gunicorn and through the edge.

    python -m bench.slow_clients [--counts 8,16] [--seconds 30] [--every 2]
                                 [--edge URL [--ca FILE]]

Each slow client opens a connection and sends a request's headers one byte a
second, reconnecting whenever the server drops it, so ``count`` of them are held
for the whole run. Meanwhile ``GET /healthz`` is probed every ``--every`` seconds
with a 1 s timeout. Without ``--edge`` the probe runs against a gunicorn started
here as the image runs it (``--workers 2 --threads 4``) on loopback; with it,
also against that URL (e.g. the compose stack's edge, http or https; ``--ca``
for a test certificate). Prints one line per target and count, e.g.
``gunicorn  8 slow: 0/15 answered within 1 s``. Loopback only; nothing asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.common import Lab

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SlowHeaders:
    """``count`` connections to ``url``'s host dribbling headers, each reopened
    when the server drops it; ``drops`` counts the drops."""

    url: str
    count: int
    ca: str | None = None
    drops: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _connect(self) -> socket.socket:
        parts = urlsplit(self.url)
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=5)
        if tls:
            context = ssl.create_default_context(cafile=self.ca)
            sock = context.wrap_socket(sock, server_hostname=parts.hostname)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        return sock

    def _hold(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as sock:
                    while not self._stop.wait(1.0):
                        sock.sendall(b"X")  # a header name that never ends
            except OSError:
                with self._lock:
                    self.drops += 1
                self._stop.wait(0.2)

    @contextlib.contextmanager
    def held(self) -> Iterator[SlowHeaders]:
        for _ in range(self.count):
            thread = threading.Thread(target=self._hold, daemon=True)
            thread.start()
            self._threads.append(thread)
        time.sleep(1.0)  # let every connection be open and started
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(10)


@dataclass
class Probe:
    answered: int  # 200 within the timeout
    sent: int
    seconds: list[float]  # time of each answered probe
    failures: list[str]


def probe(url: str, seconds: float, every: float, timeout: float = 1.0,
          ca: str | None = None) -> Probe:
    """GET ``url`` every ``every`` s for ``seconds`` s, each with ``timeout``."""
    answered, sent, took, failures = 0, 0, [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        sent += 1
        try:
            status = requests.get(url, timeout=timeout, verify=ca or True).status_code
        except requests.RequestException as exc:
            failures.append(type(exc).__name__)
        else:
            if status == 200:
                answered += 1
                took.append(time.monotonic() - started)
            else:
                failures.append(str(status))
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return Probe(answered, sent, took, failures)


def measure(base: str, count: int, seconds: float, every: float,
            ca: str | None = None) -> tuple[Probe, int]:
    with SlowHeaders(base, count, ca).held() as slow:
        result = probe(base + "/healthz", seconds, every, ca=ca)
    return result, slow.drops


def line(label: str, count: int, result: Probe, drops: int) -> str:
    worst = f", slowest {max(result.seconds) * 1000:.0f} ms" if result.seconds else ""
    return (f"{label:<9} {count:>2} slow: {result.answered}/{result.sent} answered within 1 s"
            f"{worst}; slow connections dropped by the server {drops} times")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients")
    parser.add_argument("--counts", default="8,16")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=2.0)
    parser.add_argument("--edge", help="also probe this base URL (the compose edge)")
    parser.add_argument("--ca", help="CA file for an https --edge")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    print(f"probe: GET /healthz every {args.every:g} s for {args.seconds:g} s, 1 s timeout; "
          f"load average {os.getloadavg()[0]:.2f}")
    lab = Lab()
    try:
        env = {**os.environ, "REDIS_URL": lab.redis_url, "PYTHONPATH": str(ROOT)}
        _proc, base = lab.gunicorn("api:create_app()", env, 2, 4, "gthread", "gunicorn.log")
        for count in counts:
            print(line("gunicorn", count, *measure(base, count, args.seconds, args.every)),
                  flush=True)
        if args.edge:
            for count in counts:
                print(line("edge", count, *measure(args.edge.rstrip("/"), count, args.seconds,
                                                   args.every, args.ca)), flush=True)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
