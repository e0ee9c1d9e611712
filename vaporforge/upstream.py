"""One HTTP POST under a total deadline and a size cap: the refresh relay's upstream
call (:func:`post_json`) and each webhook delivery attempt (:func:`post`).

``requests``/urllib3 time-outs bound each socket operation, not the request: an
upstream that sends one byte every few seconds holds the caller for as long as
it likes. Here a timer shuts the connection's socket down when the deadline
passes, whatever phase the request is in (connect, headers, body); the blocked
read then ends at once and the call raises :class:`DeadlineExceeded`. The
answer is read at most ``max_bytes`` (+1) far; more is :class:`TooLarge`.

Each call uses its own connection (no pooling): the relay and a webhook attempt
are one call each, and a pooled socket could outlive the call's timer.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class DeadlineExceeded(Exception):
    """The whole request took longer than its deadline."""


class TooLarge(Exception):
    """The answer was larger than allowed."""


class UpstreamError(Exception):
    """The request failed (connection, protocol); the text names only the kind."""


class _Deadline:
    """Cuts every socket registered with it when ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.due = time.monotonic() + seconds
        self.passed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut_all)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def left(self) -> float:
        return max(0.0, self.due - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.passed.is_set():
                _cut(sock)

    def _cut_all(self) -> None:
        with self._lock:
            self.passed.set()
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    """Shut the TCP connection down under any TLS wrapper, from another thread:
    a read blocked on it returns at once (close() alone would not wake it)."""
    with contextlib.suppress(OSError, ValueError):
        raw = socket.socket(fileno=sock.fileno())
        try:
            raw.shutdown(socket.SHUT_RDWR)
        finally:
            raw.detach()


def _session(deadline: _Deadline) -> requests.Session:
    """A requests session whose connections register their socket with ``deadline``."""

    class Http(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    class Https(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)

    class HttpPool(HTTPConnectionPool):
        ConnectionCls = Http

    class HttpsPool(HTTPSConnectionPool):
        ConnectionCls = Https

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HttpPool, "https": HttpsPool}

    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment
    adapter = Adapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post(url: str, headers: dict[str, str], *, deadline: float, connect_timeout: float,
         max_bytes: int, data: bytes | None = None,
         json: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """POST ``data`` (bytes, sent as they are) or ``json`` (a dict, encoded by
    requests); ``(status, answer bytes)`` within ``deadline`` seconds in all.

    Raises DeadlineExceeded, TooLarge or UpstreamError.
    """
    with _Deadline(deadline) as watch, _session(watch) as session:
        try:
            response = session.post(url, data=data, json=json, headers=headers,
                                    allow_redirects=False, stream=True,
                                    timeout=(min(connect_timeout, deadline), deadline))
            with response:
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise TooLarge()
                answer = b""
                for chunk in response.iter_content(chunk_size=8192):
                    answer += chunk
                    if len(answer) > max_bytes:
                        raise TooLarge()
        except (requests.RequestException, http.client.HTTPException, OSError) as exc:
            if watch.passed.is_set():
                raise DeadlineExceeded() from None
            raise UpstreamError(type(exc).__name__) from None
        if watch.passed.is_set():
            raise DeadlineExceeded()
        return response.status_code, answer


def post_json(url: str, body: dict[str, Any], headers: dict[str, str], *, deadline: float,
              connect_timeout: float, max_bytes: int) -> tuple[int, bytes]:
    """POST ``body`` as JSON; ``(status, answer bytes)`` within ``deadline`` seconds in all.

    Raises DeadlineExceeded, TooLarge or UpstreamError.
    """
    return post(url, headers, json=body, deadline=deadline, connect_timeout=connect_timeout,
                max_bytes=max_bytes)
