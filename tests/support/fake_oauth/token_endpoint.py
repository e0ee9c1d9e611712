"""The fake sign-in service's token endpoint (POST /v1/oauth/token): the code
exchange and the refresh grant, as a part of its request handler."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs

from tests.support.fake_oauth.state import _State
from tests.support.fake_oauth.tokens import (
    ACCOUNT_UUID,
    CLAUDE_AI_SCOPES,
    CLIENT_ID,
    CONSOLE_SCOPES,
    ORG_UUID,
    SETUP_TOKEN_SCOPES,
    pkce_challenge,
    tokens_for_code,
    tokens_for_refresh,
)


class TokenEndpoint:
    """Mixed into :class:`tests.support.fake_oauth.handler._Handler`; uses its
    ``st``, ``headers``, ``_send`` and ``_profile``."""

    st: _State

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
