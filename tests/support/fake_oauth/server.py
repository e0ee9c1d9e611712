"""Serving the fake sign-in service: in-process (:class:`FakeOAuthServer`) or
as a command (:func:`main`, ``python -m tests.support.fake_oauth``)."""

from __future__ import annotations

import argparse
import contextlib
import ssl
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer

from tests.support.fake_oauth.certs import make_certs
from tests.support.fake_oauth.handler import _Handler
from tests.support.fake_oauth.state import _State
from tests.support.fake_oauth.tokens import DEFAULT_EMAIL, DEFAULT_HOSTS


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx: ssl.SSLContext | None, st: _State):
        self.ctx, self.st = ctx, st
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        if self.ctx is None:  # plain HTTP (tls=False)
            request.settimeout(30)
            self.RequestHandlerClass(request, client_address, self)
            return
        # TLS handshake in the worker thread, so one stuck client can't block accept().
        try:
            request.settimeout(30)
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            # The CLI drops its warm-up connections at exit: ECONNRESET/EOF here is normal.
            if not isinstance(e, (ConnectionResetError, ssl.SSLEOFError)):
                self.st.log({"tls_handshake_failed": type(e).__name__, "detail": str(e)[:200]})
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if not isinstance(e, (ConnectionError, ssl.SSLError, TimeoutError)):
            self.st.log({"server_error": repr(e)[:300]})


class FakeOAuthServer:
    """In-process use: srv = FakeOAuthServer(certdir=d, port=443); srv.start(); srv.stop()."""

    def __init__(
        self,
        host="127.0.0.1",
        port=443,
        certdir=None,
        hosts=None,
        strict=False,
        email=DEFAULT_EMAIL,
        log_path=None,
        quiet=True,
        tls=True,
    ):
        self.state = _State(strict, email, log_path, quiet)
        ctx = None
        if tls:
            self.certdir = certdir or tempfile.mkdtemp(prefix="fake-oauth-certs-")
            self.paths = make_certs(self.certdir, hosts)
            self.ca_path = self.paths["ca"]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.paths["cert"], self.paths["key"])
        elif host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("plain HTTP only on a loopback address")
        handler = type("Handler", (_Handler,), {"st": self.state})
        self.httpd = _TLSServer((host, port), handler, ctx, self.state)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = None

    @property
    def requests(self) -> list:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def url(self) -> str:
        scheme = "https" if self.httpd.ctx is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def refresh_bodies(self) -> list[dict]:
        """Each refresh grant received: {"content_type", "body"} (with its tokens)."""
        with self.state.lock:
            return [dict(r) for r in self.state.refresh_bodies]

    @property
    def slow_refresh(self) -> float:
        return self.state.slow_refresh

    @slow_refresh.setter
    def slow_refresh(self, seconds: float) -> None:
        self.state.slow_refresh = seconds

    @property
    def refresh_token_lifetime(self) -> int | None:
        return self.state.refresh_token_lifetime

    @refresh_token_lifetime.setter
    def refresh_token_lifetime(self, seconds: int | None) -> None:
        self.state.refresh_token_lifetime = seconds

    def hold_refreshes(self) -> threading.Event:
        """Refresh answers wait (at most 30 s) until the returned event is set."""
        gate = threading.Event()
        with self.state.lock:
            self.state.refresh_gate = gate
        return gate

    def release_refreshes(self) -> None:
        with self.state.lock:
            gate, self.state.refresh_gate = self.state.refresh_gate, None
        if gate is not None:
            gate.set()

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self):
        self.httpd.serve_forever()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument(
        "--certdir", required=True, help="ca.pem/cert.pem/key.pem are created here if missing"
    )
    ap.add_argument(
        "--hosts",
        default=" ".join(DEFAULT_HOSTS),
        help="space-separated names for the leaf certificate (used only when creating it)",
    )
    ap.add_argument("--log", help="append one redacted JSON line per request to this file")
    ap.add_argument(
        "--strict",
        action="store_true",
        help="accept only codes issued by /oauth/authorize and tokens issued here",
    )
    ap.add_argument("--email", default=DEFAULT_EMAIL)
    ap.add_argument("--quiet", action="store_true", help="do not echo request lines to stderr")
    a = ap.parse_args(argv)
    srv = FakeOAuthServer(
        a.host, a.port, a.certdir, a.hosts.split(), a.strict, a.email, a.log, a.quiet
    )
    print(f"fake-oauth listening on https://{srv.host}:{srv.port} ca={srv.ca_path}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        srv.serve_forever()
    return 0
