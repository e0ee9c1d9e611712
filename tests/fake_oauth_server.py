#!/usr/bin/env python3
"""A fake Anthropic OAuth/API server that lets the real Claude Code CLI finish a login.

Observed against @anthropic-ai/claude-code 2.1.332 (Bun executable). The CLI trusts
a CA given in NODE_EXTRA_CA_CERTS (or SSL_CERT_FILE), so with this server on
127.0.0.1:443 inside a private network namespace whose /etc/hosts maps the
Anthropic host names to 127.0.0.1 (see tests/netns_run.sh), these all succeed:

  claude auth login            -> "Login successful.", writes ~/.claude/.credentials.json
  claude auth login --console  -> "Login successful.", API key in ~/.claude.json (primaryApiKey)
  claude setup-token           -> prints the access token  sk-ant-oat01-...

Two ways to point the CLI here (both observed to work):
  * production host names (no extra env): map platform.claude.com and
    api.anthropic.com (plus claude.com, claude.ai for the sign-in links) to 127.0.0.1;
  * CLAUDE_CODE_CUSTOM_OAUTH_URL=https://claude.fedstart.com (one of the CLI's
    allow-listed values): every request then goes to claude.fedstart.com; the
    config file becomes ~/.claude-custom-oauth.json, credentials stay in
    ~/.claude/.credentials.json.

Endpoints the CLI used in those runs (all answered here):
  HEAD /api/hello                                   connection warm-up (api host)
  GET  /api/hello, GET /v1/oauth/hello              the interactive CLI's first-run
                                                    connectivity check (both must be 200)
  POST /v1/oauth/token                              code -> tokens (platform host)
  GET  /api/oauth/profile                           account/org (optional: 404 still logs in)
  GET  /api/oauth/claude_cli/roles                  auth login only (optional)
  POST /api/oauth/claude_cli/create_api_key         --console only (REQUIRED: {"raw_key"})
  POST /api/eval/<key>, POST /api/event_logging/v2/batch
                                                    telemetry; gone with
                                                    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1
  GET  /api/organization/claude_code_first_token_date, GET /api/claude_cli/bootstrap
                                                    answered 404 (the CLI ignores that)
Plus, for tests that play the user's browser:
  GET  /oauth/authorize, /cai/oauth/authorize       validates the sign-in URL's query and
                                                    answers JSON {"code", "state", "paste"}
                                                    where paste = "<code>#<state>" is what a
                                                    user would paste into the CLI. The code is
                                                    remembered with its scope and PKCE
                                                    challenge; the token exchange then checks
                                                    the verifier and returns that scope.
                                                    Append &fake_account=console to grant
                                                    "org:create_api_key user:profile" instead
                                                    (the CLI asks for user:inference even with
                                                    --console; only a grant without it makes
                                                    the CLI mint an API key), or
                                                    &fake_scope=<scopes> for any other grant.
  GET  /__fake/requests                             the (redacted) request log as JSON.

The refresh grant follows FACTS.md "Token refresh": a JSON POST of
{"grant_type": "refresh_token", "refresh_token", "client_id", "scope"} to
/v1/oauth/token. The client id must be the CLI's; refresh tokens rotate (a
refresh token is good once: the second use is 400 invalid_grant, as when two
holders share one login); the answer is an 8-hour access token, a new refresh
token and the requested scope. Refresh tokens "sk-ant-ort01-bad..." are refused
(invalid_grant), "sk-ant-ort01-err..." get a 500, "sk-ant-ort01-slow..." wait
FakeOAuthServer.slow_refresh seconds. In-process, FakeOAuthServer.refresh_bodies
holds each refresh request's parsed body and content type (with the tokens: it
is never logged or served), hold_refreshes() keeps answers back until released,
and refresh_token_lifetime (seconds) adds "refresh_token_expires_in" to answers
(not observed from the real service; off by default).

Token values are derived from the code the CLI sends (the part before '#'),
so tests can predict them: see tokens_for_code(). Codes with special prefixes
inject failures: "bad..." -> 400 invalid_grant; "err..." -> 500; "slowN..."
-> answer after N seconds (N <= 60). Unknown codes are accepted unless
--strict; their scope is guessed: setup-token (request has expires_in) ->
"user:inference"; code starting with "console" -> "org:create_api_key
user:profile" (makes `auth login --console` mint an API key); else the full
claude.ai scope list. Note: a token answer WITHOUT refresh_token makes
`auth login` print "Login successful." yet store nothing.

The log never contains codes, verifiers, tokens or keys.

CLI:  python tests/fake_oauth_server.py --host 127.0.0.1 --port 443 --certdir DIR [--log FILE]
      writes DIR/ca.pem, DIR/cert.pem, DIR/key.pem if missing, prints
      "fake-oauth listening on https://HOST:PORT ca=DIR/ca.pem" when ready.
In-process: srv = FakeOAuthServer(certdir=...); srv.start(); ...; srv.stop().
FakeOAuthServer(tls=False) serves plain HTTP (loopback only), for the broker's refresh relay.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
DEFAULT_HOSTS = [
    "claude.fedstart.com",
    "claude-staging.fedstart.com",
    "platform.claude.com",
    "api.anthropic.com",
    "claude.ai",
    "claude.com",
    "console.anthropic.com",
    "localhost",
]
CLAUDE_AI_SCOPES = (
    "org:create_api_key user:profile user:inference user:sessions:claude_code "
    "user:mcp_servers user:file_upload user:plugins user:privacy_consents:write "
    "org:desktop_config"
)
CONSOLE_SCOPES = "org:create_api_key user:profile"
SETUP_TOKEN_SCOPES = "user:inference"
ACCOUNT_UUID = "5f0c4a1e-0000-4000-8000-00000000a11c"
ORG_UUID = "5f0c4a1e-0000-4000-8000-0000000000b9"
DEFAULT_EMAIL = "fake-user@example.com"


# --------------------------------------------------------------------------- tokens
def _h(label: str, value: str) -> str:
    return hashlib.sha512(f"{label}:{value}".encode()).hexdigest()


def tokens_for_code(code: str) -> dict:
    """Tokens this server issues for an authorization code (the part before '#').

    access_token: "sk-ant-oat01-" + sha512("access:"+code).hex[:95]   (108 chars)
    refresh_token: "sk-ant-ort01-" + sha512("refresh:"+code).hex[:95]
    api_key (console): "sk-ant-api03-" + sha512("apikey:"+access_token).hex[:95]
    """
    code = code.split("#", 1)[0]
    access = "sk-ant-oat01-" + _h("access", code)[:95]
    return {
        "access_token": access,
        "refresh_token": "sk-ant-ort01-" + _h("refresh", code)[:95],
        "api_key": api_key_for_access_token(access),
    }


def tokens_for_refresh(refresh_token: str) -> dict:
    """Tokens issued for grant_type=refresh_token (rotating refresh token)."""
    return tokens_for_code("refresh:" + refresh_token)


def api_key_for_access_token(access_token: str) -> str:
    return "sk-ant-api03-" + _h("apikey", access_token)[:95]


def pkce_challenge(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


# --------------------------------------------------------------------------- certificates
def make_certs(certdir: str, hosts=None) -> dict:
    """Create ca.pem, cert.pem (leaf for `hosts`, signed by the CA), key.pem in certdir
    unless all three exist. Returns their paths."""
    hosts = list(hosts or DEFAULT_HOSTS)
    os.makedirs(certdir, exist_ok=True)
    paths = {n: os.path.join(certdir, f"{n}.pem") for n in ("ca", "cert", "key")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    _make_certs_cryptography(paths, hosts)
    os.chmod(paths["key"], 0o600)
    return paths


def _make_certs_cryptography(paths, hosts):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-oauth test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(
        paths["key"],
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write(paths["cert"], leaf.public_bytes(pem))
    _write(paths["ca"], ca.public_bytes(pem))


def _write(path, data: bytes):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- server
class _State:
    def __init__(self, strict: bool, email: str, log_path: str | None, quiet: bool):
        self.strict, self.email, self.log_path, self.quiet = strict, email, log_path, quiet
        self.lock = threading.Lock()
        self.issued: dict[str, dict] = {}  # code -> {scope, challenge, redirect_uri, client_id}
        self.used: set[str] = set()
        self.access_tokens: set[str] = set()
        self.requests: list[dict] = []
        self.refresh_bodies: list[dict] = []  # in memory only: holds tokens
        self.rotated: set[str] = set()  # refresh tokens already exchanged
        self.refresh_gate: threading.Event | None = None
        self.slow_refresh = 5.0
        self.refresh_token_lifetime: int | None = None

    def log(self, rec: dict):
        rec = {"t": round(time.time(), 3), **rec}
        line = json.dumps(rec, sort_keys=True)
        with self.lock:
            self.requests.append(rec)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line + "\n")
        if not self.quiet:
            print("fake-oauth " + line, file=sys.stderr, flush=True)


_SECRET_KEYS = {"code", "code_verifier", "refresh_token", "access_token", "state", "code_challenge"}


def _redacted_query(query: str) -> dict:
    out = {}
    for k, vs in parse_qs(query, keep_blank_values=True).items():
        secret = k in _SECRET_KEYS and not (k == "code" and vs[0] == "true")
        out[k] = "<redacted>" if secret else vs[0][:200]
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-oauth/1"
    st: _State  # set on the subclass

    def log_message(self, fmt, *args):  # silence default stderr lines
        pass

    # ---- plumbing
    def _body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, obj=None, ctype="application/json"):
        data = (
            b""
            if obj is None
            else (json.dumps(obj).encode() if ctype == "application/json" else obj)
        )
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self._status = status

    def _dispatch(self):
        self._status = None
        self._note = {}
        body = self._body() if self.command in ("POST", "PUT", "PATCH") else b""
        parts = urlsplit(self.path)
        try:
            self._route(parts.path, parts.query, body)
        except Exception as e:  # noqa: BLE001 - keep the CLI from hanging on a server bug
            self._note["exception"] = repr(e)[:300]
            if self._status is None:
                self._send(500, {"error": {"type": "api_error", "message": "fake server error"}})
        auth = self.headers.get("authorization", "")
        if self.headers.get("x-api-key"):  # an API key's prefix, as for a bearer below
            self._note["api_key"] = "<" + self.headers["x-api-key"][:14] + "…>"
        self.st.log(
            {
                "method": self.command,
                "host": self.headers.get("host"),
                "path": parts.path,
                "query": _redacted_query(parts.query),
                "status": self._status,
                "user_agent": self.headers.get("user-agent"),
                "auth": ("Bearer <" + auth.split()[-1][:13] + "…>")
                if auth.lower().startswith("bearer ")
                else None,
                **self._note,
            }
        )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    # ---- routes
    def _route(self, path: str, query: str, body: bytes):
        if path == "/v1/oauth/hello":  # first-run onboarding's check of the platform host
            return self._send(200, {})
        if path == "/api/hello":
            return self._send(200, {})
        if path in ("/oauth/authorize", "/cai/oauth/authorize"):
            return self._authorize(parse_qs(query))
        if path == "/v1/oauth/token" and self.command == "POST":
            return self._token(body)
        if path == "/api/oauth/profile":
            if not self._bearer_ok():
                return self._send(
                    401, {"error": {"type": "authentication_error", "message": "invalid token"}}
                )
            return self._send(200, self._profile())
        if path == "/api/oauth/claude_cli/roles":
            if not self._bearer_ok():
                return self._send(
                    401, {"error": {"type": "authentication_error", "message": "invalid token"}}
                )
            return self._send(
                200,
                {
                    "organization_role": "admin",
                    "workspace_role": None,
                    "organization_name": "Fake Org",
                },
            )
        if path == "/api/oauth/claude_cli/create_api_key" and self.command == "POST":
            tok = self._bearer()
            if not self._bearer_ok():
                return self._send(
                    401, {"error": {"type": "authentication_error", "message": "invalid token"}}
                )
            return self._send(200, {"raw_key": api_key_for_access_token(tok)})
        if path == "/api/event_logging/v2/batch" or path.startswith("/api/event_logging/"):
            return self._send(200, {})
        if path.startswith("/api/eval/"):
            return self._send(200, {"features": {}})
        if path == "/__fake/requests":
            with self.st.lock:
                return self._send(200, list(self.st.requests))
        # e.g. /api/organization/claude_code_first_token_date, /api/claude_cli/bootstrap,
        # /api/claude_code/policy_limits: the CLI carries on after a 404.
        return self._send(
            404, {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
        )

    def _bearer(self) -> str:
        a = self.headers.get("authorization", "")
        return a.split(None, 1)[1].strip() if a.lower().startswith("bearer ") else ""

    def _bearer_ok(self) -> bool:
        tok = self._bearer()
        if not tok.startswith("sk-ant-oat01-"):
            return False
        if self.st.strict:
            with self.st.lock:
                return tok in self.st.access_tokens
        return True

    def _profile(self) -> dict:
        return {
            "account": {
                "uuid": ACCOUNT_UUID,
                "email": self.st.email,
                "email_address": self.st.email,
                "display_name": "Fake User",
                "full_name": "Fake User",
                "has_claude_max": True,
                "has_claude_pro": False,
                "created_at": "2024-01-01T00:00:00Z",
            },
            "organization": {
                "uuid": ORG_UUID,
                "name": "Fake Org",
                "organization_type": "claude_max",
                "billing_type": "stripe_subscription",
                "rate_limit_tier": "default_claude_max_20x",
                "has_extra_usage_enabled": False,
            },
        }

    def _authorize(self, q: dict):
        g = lambda k: (q.get(k) or [""])[0]  # noqa: E731
        missing = [
            k
            for k in (
                "client_id",
                "response_type",
                "redirect_uri",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "state",
            )
            if not g(k)
        ]
        if missing or g("response_type") != "code" or g("code_challenge_method") != "S256":
            self._note["reject"] = "bad authorize query: missing " + ",".join(missing)
            return self._send(400, {"error": "invalid_request", "missing": missing})
        code = (
            "fake-"
            + hashlib.sha256(f"{g('code_challenge')}|{g('state')}".encode()).hexdigest()[:40]
        )
        # What the "user" grants: the requested scope, unless the test appends
        # &fake_account=console (an API-billing account: no user:inference, so
        # `auth login --console` mints an API key) or &fake_scope=<space-separated>.
        granted = g("fake_scope") or (
            CONSOLE_SCOPES if g("fake_account") == "console" else g("scope")
        )
        with self.st.lock:
            self.st.issued[code] = {
                "scope": granted,
                "challenge": g("code_challenge"),
                "redirect_uri": g("redirect_uri"),
                "client_id": g("client_id"),
            }
        self._note["scope"] = granted
        return self._send(200, {"code": code, "state": g("state"), "paste": f"{code}#{g('state')}"})

    def _token(self, body: bytes):
        ctype = self.headers.get("content-type", "")
        try:
            req = (
                json.loads(body)
                if "json" in ctype or body[:1] == b"{"
                else {k: v[0] for k, v in parse_qs(body.decode()).items()}
            )
        except ValueError:
            self._note["reject"] = "unparseable body"
            return self._send(400, {"error": "invalid_request"})
        grant = req.get("grant_type")
        self._note["grant_type"] = grant
        self._note["fields"] = sorted(req)
        if grant == "refresh_token":
            return self._refresh(req, ctype)
        if grant != "authorization_code":
            return self._send(400, {"error": "unsupported_grant_type"})
        code = str(req.get("code") or "")
        m = re.match(r"slow(\d+)", code)
        if m:
            time.sleep(min(int(m.group(1)), 60))
        if code.startswith("bad") or not code:
            self._note["reject"] = "bad code (injected)"
            return self._send(
                400, {"error": "invalid_grant", "error_description": "Invalid 'code' in request."}
            )
        if code.startswith("err"):
            self._note["reject"] = "server error (injected)"
            return self._send(
                500,
                {
                    "type": "error",
                    "error": {"type": "api_error", "message": "Internal server error"},
                },
            )
        with self.st.lock:
            issued = self.st.issued.get(code)
            reused = code in self.st.used
            self.st.used.add(code)
        setup_token = "expires_in" in req
        if issued:
            problems = []
            if pkce_challenge(str(req.get("code_verifier") or "")) != issued["challenge"]:
                problems.append("PKCE verifier mismatch")
            if req.get("redirect_uri") != issued["redirect_uri"]:
                problems.append("redirect_uri mismatch")
            if req.get("client_id") != issued["client_id"]:
                problems.append("client_id mismatch")
            if reused:
                problems.append("code already used")
            if problems:
                self._note["reject"] = "; ".join(problems)
                return self._send(
                    400, {"error": "invalid_grant", "error_description": "; ".join(problems)}
                )
            scope = issued["scope"]
        elif self.st.strict:
            self._note["reject"] = "unknown code (strict)"
            return self._send(
                400, {"error": "invalid_grant", "error_description": "Invalid 'code' in request."}
            )
        else:
            scope = (
                SETUP_TOKEN_SCOPES
                if setup_token
                else CONSOLE_SCOPES
                if code.startswith("console")
                else CLAUDE_AI_SCOPES
            )
        self._note["scope"] = scope
        self._note["issued_by_authorize"] = bool(issued)
        t = tokens_for_code(code)
        with self.st.lock:
            self.st.access_tokens.add(t["access_token"])
        expires_in = int(req["expires_in"]) if setup_token else 28800
        # Long-lived (setup-token) tokens come without a refresh token.
        return self._send(200, self._token_answer(t, scope, expires_in, not setup_token))

    def _refresh(self, req: dict, ctype: str):
        with self.st.lock:
            self.st.refresh_bodies.append({"content_type": ctype, "body": dict(req)})
            gate = self.st.refresh_gate
        if gate is not None:
            gate.wait(30)
        rt = str(req.get("refresh_token") or "")
        if req.get("client_id") != CLIENT_ID:
            self._note["reject"] = "unknown client_id"
            return self._send(400, {"error": "invalid_client",
                                    "error_description": "Unknown client"})
        if rt.startswith("sk-ant-ort01-err"):
            self._note["reject"] = "server error (injected)"
            return self._send(500, {"type": "error", "error": {
                "type": "api_error", "message": "Internal server error"}})
        if rt.startswith("sk-ant-ort01-slow"):
            time.sleep(self.st.slow_refresh)
        with self.st.lock:
            reused = rt in self.st.rotated
            self.st.rotated.add(rt)
        if not rt.startswith("sk-ant-ort01-") or rt.startswith("sk-ant-ort01-bad") or reused:
            self._note["reject"] = "refresh token already used" if reused else "bad refresh token"
            return self._send(
                400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            )
        t = tokens_for_refresh(rt)
        with self.st.lock:
            self.st.access_tokens.add(t["access_token"])
        answer = self._token_answer(t, req.get("scope") or CLAUDE_AI_SCOPES, 28800, True)
        if self.st.refresh_token_lifetime:
            answer["refresh_token_expires_in"] = self.st.refresh_token_lifetime
        return self._send(200, answer)

    def _token_answer(self, t: dict, scope: str, expires_in: int, with_refresh: bool) -> dict:
        ans = {
            "token_type": "Bearer",
            "access_token": t["access_token"],
            "expires_in": expires_in,
            "scope": scope,
            "account": {"uuid": ACCOUNT_UUID, "email_address": self.st.email},
            "organization": {"uuid": ORG_UUID, "name": "Fake Org"},
        }
        if with_refresh:
            ans["refresh_token"] = t["refresh_token"]
        return ans


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


if __name__ == "__main__":
    sys.exit(main())
