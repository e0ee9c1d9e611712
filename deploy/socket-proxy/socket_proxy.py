"""A Docker socket proxy that passes on only the worker's calls (socket_policy).

    python socket_proxy.py     # in docker-compose.yml's `docker-proxy` service

Listens on a unix socket (VF_PROXY_SOCKET, default /run/vaporforge-docker/docker.sock;
the worker's DOCKER_HOST) and forwards to the engine's (VF_PROXY_UPSTREAM, default
/var/run/docker.sock). Per connection: one request is read whole (head up to 64 KiB,
a Content-Length body up to 1 MiB, no repeated header, within 30 s), and either
refused with 400/403 and a JSON ``message`` (what the docker SDK shows in its
APIError) or replaced by the request socket_policy.decide built: the engine gets
that head and body, never the worker's bytes, with ``Connection: close``; its
answer is streamed back until it closes. An exec start asking for ``Upgrade:
tcp`` is piped both ways once the engine answers ``101`` (from then on the engine
reads a raw stream, the exec's stdin, never another request), so the worker's
exec sockets work as on the engine's own socket.

The login container's spec comes from the proxy's own environment, through the
same Settings the worker reads (VF_DEPLOYMENT, else VF_KEY_PREFIX; VF_LOGIN_IMAGE,
VF_LOGIN_COMMAND, VF_LOGIN_ENV, VF_DOCKER_RUNTIME, VF_DOCKER_NETWORK,
VF_DOCKER_MEMORY, VF_DOCKER_CPUS, VF_DOCKER_PIDS, VF_DOCKER_EXTRA_HOSTS): never
from the worker's requests. Only the standard library besides vaporforge's
settings and login_container.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from socket_policy import Policy, Refused, Request, decide

log = logging.getLogger("vaporforge.docker-proxy")
MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 30.0
CHUNK = 64 * 1024


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def inspector(upstream: str, kind: str) -> Any:
    """GET /<kind>/<id>/json on the engine: the parsed answer, None if not 200."""

    def inspect(ident: str) -> Mapping[str, Any] | None:
        if not ident:
            return None
        conn = _UnixHTTPConnection(upstream)
        try:
            conn.request("GET", f"/{kind}/{quote(ident, safe='')}/json")
            answer = conn.getresponse()
            body = answer.read()
            return json.loads(body) if answer.status == 200 else None
        finally:
            conn.close()

    return inspect


def read_request(reader: Any) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    """method, target, version, headers, body of one request; Refused(400/413) if bad."""
    head = reader.readline(MAX_HEAD)
    parts = head.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line")
    headers: list[tuple[str, str]] = []
    size = len(head)
    while True:
        line = reader.readline(MAX_HEAD)
        size += len(line)
        if size > MAX_HEAD:
            raise Refused(400, "request head too large")
        if line in (b"\r\n", b"\n", b""):
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise Refused(400, "malformed header")
        headers.append((name.strip(), value.strip()))
    names = {n.lower(): v for n, v in headers}
    if len(names) != len(headers):
        raise Refused(400, "a header is repeated")
    if "transfer-encoding" in names:
        raise Refused(400, "chunked request bodies are not supported")
    length = names.get("content-length", "0") or "0"
    if not length.isdigit():
        raise Refused(400, "bad Content-Length")
    if int(length) > MAX_BODY:
        raise Refused(413, "request body too large")
    body = reader.read(int(length)) if int(length) else b""
    if len(body) != int(length):
        raise Refused(400, "short body")
    return parts[0], parts[1], parts[2], headers, body


class Handler(socketserver.StreamRequestHandler):
    server: ProxyServer

    def handle(self) -> None:
        self.connection.settimeout(READ_TIMEOUT)
        try:
            method, target, _version, headers, body = read_request(self.rfile)
        except Refused as refused:
            self.refuse(refused.status, str(refused))
            return
        except (OSError, ValueError):
            return
        policy, upstream = self.server.policy, self.server.upstream
        upgrade = any(n.lower() == "upgrade" and v.lower() == "tcp" for n, v in headers)
        try:
            forward = decide(policy, Request(method, target, body, upgrade),
                             inspector(upstream, "containers"), inspector(upstream, "exec"))
        except Refused as refused:
            log.warning("refused %s %s: %s", method, target.partition("?")[0][:200], refused)
            self.refuse(refused.status, f"refused by the VaporForge socket proxy: {refused}")
            return
        except (OSError, ValueError, http.client.HTTPException):
            self.refuse(502, "the Docker engine did not answer")
            return
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(upstream)
            # What the proxy built, never the worker's bytes (socket_policy.Forward).
            engine.sendall(forward.head() + (forward.body or b""))
            # An exec or container wait may stay silent for long: no timeout on answers.
            self.connection.settimeout(None)
            if forward.upgrade:
                self.relay_upgrade(engine)
            else:
                _copy(engine, self.connection)
        except OSError:
            pass
        finally:
            engine.close()

    def relay_upgrade(self, engine: socket.socket) -> None:
        """Pipe both ways once the engine answered 101 (it then parses no more
        HTTP on this connection); any other answer is passed on, then closed."""
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = engine.recv(CHUNK)
            if not chunk or len(answer) > MAX_HEAD:
                self.connection.sendall(answer)
                return
            answer += chunk
        status = answer.split(b" ", 2)[1] if answer.count(b" ") >= 2 else b""
        self.connection.sendall(answer)
        if status != b"101":
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            left = int(length.group(1)) - len(rest) if length else 0
            engine.settimeout(5)
            while left > 0 and (chunk := engine.recv(min(CHUNK, left))):
                self.connection.sendall(chunk)
                left -= len(chunk)
            return
        threading.Thread(target=_copy_reader, args=(self.rfile, engine), daemon=True).start()
        _copy(engine, self.connection)

    def refuse(self, status: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        reason = {400: "Bad Request", 403: "Forbidden", 413: "Payload Too Large",
                  502: "Bad Gateway"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            self.connection.sendall(head.encode() + body)


def _copy(source: socket.socket, target: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``target``'s writing side."""
    while chunk := source.recv(CHUNK):
        target.sendall(chunk)
    _shut(target)


def _copy_reader(reader: Any, target: socket.socket) -> None:
    """Client to engine on an upgraded connection (buffered bytes included)."""
    try:
        while chunk := reader.read1(CHUNK):
            target.sendall(chunk)
    except (OSError, ValueError):
        pass
    _shut(target)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


class ProxyServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, upstream: str, policy: Policy) -> None:
        self.upstream, self.policy = upstream, policy
        super().__init__(path, Handler)


def serve(path: str, upstream: str, policy: Policy, owner: int | None = None) -> ProxyServer:
    """Bind ``path`` (replacing a stale socket), mode 0660, owned by uid ``owner`` when
    given (the group stays the proxy's, so its own health check can connect)."""
    if os.path.exists(path):
        os.unlink(path)
    server = ProxyServer(path, upstream, policy)
    os.chmod(path, 0o660)
    if owner is not None:  # last: once it is the worker's, root (no CAP_FOWNER) cannot chmod
        os.chown(path, owner, os.getgid())
    return server


def main() -> None:
    from vaporforge.login_container import LoginContainerSpec
    from vaporforge.settings import Settings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings.for_process(os.environ)
    policy = Policy(LoginContainerSpec.from_settings(settings))
    path = os.environ.get("VF_PROXY_SOCKET", "/run/vaporforge-docker/docker.sock")
    upstream = os.environ.get("VF_PROXY_UPSTREAM", "/var/run/docker.sock")
    owner = os.environ.get("VF_PROXY_SOCKET_OWNER", "").strip()
    server = serve(path, upstream, policy, int(owner) if owner else None)
    log.info("docker proxy on %s for deployment %r, image %r, runtime %r, network %r", path,
             policy.deployment, policy.image, policy.spec.runtime or "(engine default)",
             policy.spec.network)
    server.serve_forever()


if __name__ == "__main__":
    main()
