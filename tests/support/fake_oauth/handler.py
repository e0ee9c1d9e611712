"""The fake sign-in service's HTTP endpoints (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_oauth.state import _redacted_query, _State
from tests.support.fake_oauth.tokens import (
    ACCOUNT_UUID,
    CLAUDE_AI_SCOPES,
    CLIENT_ID,
    CONSOLE_SCOPES,
    ORG_UUID,
    SETUP_TOKEN_SCOPES,
    api_key_for_access_token,
    pkce_challenge,
    tokens_for_code,
    tokens_for_refresh,
)


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


