"""The fake sign-in service's HTTP endpoints (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_oauth.state import _redacted_query, _State
from tests.support.fake_oauth.token_endpoint import TokenEndpoint
from tests.support.fake_oauth.tokens import (
    ACCOUNT_UUID,
    CONSOLE_SCOPES,
    ORG_UUID,
    api_key_for_access_token,
)


class _Handler(TokenEndpoint, BaseHTTPRequestHandler):
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
