"""The refresh relay: one refresh-token grant, passed on to the sign-in service.

The browser keeps the refresh token; when its access token is due it sends the
refresh token here and the broker makes the same request the CLI makes
(../shared/claude-cli/FACTS.md, "Token refresh"): a JSON POST of
``{"grant_type": "refresh_token", "refresh_token", "client_id", "scope"}`` to the
token URL. The answer is turned into the credentials file's own shape,
``{"claudeAiOauth": {...}}``, so the browser can replace what it stored.

Contract:
- Nothing is stored and nothing secret is logged or put in an error: log lines
  name only the outcome and the upstream status code.
- An upstream ``invalid_grant`` (a used, revoked or expired refresh token) is
  :class:`RefreshRejected` (400 ``refresh_rejected``); an upstream that cannot be
  reached, times out, redirects, answers 5xx or answers something that is not a
  token is :class:`UpstreamUnavailable` (502 ``upstream_unavailable``).
- The token URL is https, or http on a loopback address (tests only); see
  :func:`vaporforge.access.url_allowed`.
- ``timeout`` bounds the whole upstream request (connect, headers, body), not
  each read; the answer is read at most ``defaults.REFRESH_MAX_ANSWER`` bytes far;
  an ``expires_in`` that is not a finite number of seconds within a year is
  UpstreamUnavailable too.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from vaporforge import defaults
from vaporforge.errors import RefreshRejected, UpstreamUnavailable
from vaporforge.upstream import DeadlineExceeded, TooLarge, UpstreamError, post_json

log = logging.getLogger("vaporforge.refresh")

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
"""The CLI's OAuth client id; refresh tokens are bound to it."""

DEFAULT_SCOPE = ("org:create_api_key user:profile user:inference user:sessions:claude_code "
                 "user:mcp_servers user:file_upload user:plugins user:privacy_consents:write "
                 "org:desktop_config")
"""What ``claude auth login`` asks for; sent when the caller names no scope."""

MAX_LIFETIME = 366 * 24 * 3600
"""Longest ``expires_in`` taken as meant; beyond it the answer is not a usable token."""
USER_AGENT = "vaporforge-login-broker (refresh relay)"


def grant_body(refresh_token: str, scope: str | None) -> dict[str, str]:
    """The upstream request body, exactly as the CLI sends it."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": CLIENT_ID, "scope": scope or DEFAULT_SCOPE}


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _positive_int(value: Any) -> int | None:
    """A lifetime in whole seconds, or None for anything not finite, positive and sane."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 < value <= MAX_LIFETIME:
        return None
    return int(value)


def credentials_from(answer: Mapping[str, Any], refresh_token: str, scope: str,
                     now_ms: int) -> dict[str, Any]:
    """The token answer as ``{"claudeAiOauth": {...}, "expires_in"}``; else UpstreamUnavailable.

    ``claudeAiOauth`` has the credentials file's shape (``expiresAt`` in ms by
    this server's clock); ``expires_in`` (seconds) lets a browser whose clock
    differs from the server's compute the expiry by its own clock. A missing
    ``refresh_token`` means the old one stays valid (RFC 6749, 6); a missing
    ``scope`` means the requested one was granted.
    """
    access = answer.get("access_token")
    expires_in = _positive_int(answer.get("expires_in"))
    new_refresh = answer.get("refresh_token", refresh_token)
    granted = answer.get("scope", scope)
    if not (isinstance(access, str) and access and expires_in and isinstance(new_refresh, str)
            and new_refresh and isinstance(granted, str)):
        log.warning("refresh relay: the sign-in service answered 200 without a usable token")
        raise UpstreamUnavailable()
    oauth: dict[str, Any] = {"accessToken": access, "refreshToken": new_refresh,
                             "expiresAt": now_ms + expires_in * 1000,
                             "scopes": granted.split()}
    refresh_lifetime = _positive_int(answer.get("refresh_token_expires_in"))
    if refresh_lifetime:
        oauth["refreshTokenExpiresAt"] = now_ms + refresh_lifetime * 1000
    return {"claudeAiOauth": oauth, "expires_in": expires_in}


def relay_refresh(token_url: str, refresh_token: str, scope: str | None,
                  timeout: float) -> dict[str, Any]:
    """Relay one refresh grant; the new credentials, or RefreshRejected / UpstreamUnavailable.

    ``timeout`` bounds the whole upstream request (connect at most
    ``defaults.REFRESH_CONNECT_TIMEOUT`` of it).
    """
    body = grant_body(refresh_token, scope)
    try:
        status, data = post_json(
            token_url, body, {"Accept": "application/json", "User-Agent": USER_AGENT},
            deadline=timeout, connect_timeout=defaults.REFRESH_CONNECT_TIMEOUT,
            max_bytes=defaults.REFRESH_MAX_ANSWER)
    except (DeadlineExceeded, TooLarge, UpstreamError) as exc:
        # Only the kind is logged: an exception's text may carry the URL.
        log.warning("refresh relay: sign-in service unreachable or unusable (%s)",
                    type(exc).__name__)
        raise UpstreamUnavailable() from None
    now_ms = int(time.time() * 1000)
    answer = _json(data)
    if status == 200 and isinstance(answer, dict):
        log.info("refresh relay: sign-in service answered 200")
        return credentials_from(answer, refresh_token, body["scope"], now_ms)
    error = answer.get("error") if isinstance(answer, dict) else None
    if 400 <= status < 500 and error == "invalid_grant":
        log.info("refresh relay: sign-in service refused the grant (%s, invalid_grant)", status)
        raise RefreshRejected()
    log.warning("refresh relay: sign-in service answered %s (%s)", status,
                error[:40] if isinstance(error, str) and error.isidentifier() else "no error code")
    raise UpstreamUnavailable()
