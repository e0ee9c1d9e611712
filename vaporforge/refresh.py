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
  :func:`token_url_allowed`.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from vaporforge import defaults
from vaporforge.errors import RefreshRejected, UpstreamUnavailable

log = logging.getLogger("vaporforge.refresh")

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
"""The CLI's OAuth client id; refresh tokens are bound to it."""

DEFAULT_SCOPE = ("org:create_api_key user:profile user:inference user:sessions:claude_code "
                 "user:mcp_servers user:file_upload user:plugins user:privacy_consents:write "
                 "org:desktop_config")
"""What ``claude auth login`` asks for; sent when the caller names no scope."""

USER_AGENT = "vaporforge-login-broker (refresh relay)"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_url_allowed(url: str) -> bool:
    """True for an https URL with a host, or http on a loopback address (tests)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))


def grant_body(refresh_token: str, scope: str | None) -> dict[str, str]:
    """The upstream request body, exactly as the CLI sends it."""
    return {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": CLIENT_ID, "scope": scope or DEFAULT_SCOPE}


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
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


def relay_refresh(token_url: str, refresh_token: str, scope: str | None, timeout: float,
                  http: requests.Session | None = None) -> dict[str, Any]:
    """Relay one refresh grant; the new credentials, or RefreshRejected / UpstreamUnavailable.

    ``timeout`` bounds each wait on the upstream (connect at most 5 s of it).
    """
    body = grant_body(refresh_token, scope)
    poster = http or requests
    try:
        response = poster.post(
            token_url, json=body, allow_redirects=False,
            timeout=(min(defaults.REFRESH_CONNECT_TIMEOUT, timeout), timeout),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        # The exception's text may carry the URL, never the body; log only its kind.
        log.warning("refresh relay: sign-in service unreachable (%s)", type(exc).__name__)
        raise UpstreamUnavailable() from None
    now_ms = int(time.time() * 1000)
    answer = _json(response)
    if response.status_code == 200 and isinstance(answer, dict):
        log.info("refresh relay: sign-in service answered 200")
        return credentials_from(answer, refresh_token, body["scope"], now_ms)
    error = answer.get("error") if isinstance(answer, dict) else None
    if 400 <= response.status_code < 500 and error == "invalid_grant":
        log.info("refresh relay: sign-in service refused the grant (%s, invalid_grant)",
                 response.status_code)
        raise RefreshRejected()
    log.warning("refresh relay: sign-in service answered %s (%s)", response.status_code,
                error[:40] if isinstance(error, str) and error.isidentifier() else "no error code")
    raise UpstreamUnavailable()
