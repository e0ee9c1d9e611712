"""Webhook delivery to the host: one signed POST per attempt, and the retry schedule.

Pure functions; the worker's webhook pool (:mod:`worker.webhooks`) calls
:func:`deliver` and schedules retries with :func:`backoff` for
``WEBHOOK_RETRY_FOR`` seconds (at least once: the event ``id`` lets the host drop
repeats). Each attempt is one POST through :func:`vaporforge.upstream.post`, the
refresh relay's call: ``WEBHOOK_TIMEOUT`` seconds in all, however slowly the
receiver answers, and at most ``WEBHOOK_MAX_ANSWER`` bytes of answer read.

Signature: ``VaporForge-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
computed afresh for each attempt over the exact body bytes sent. A host checks
it with :func:`verify_signature` (the same code the example host app uses).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import urlsplit

from vaporforge import defaults
from vaporforge.access import url_allowed
from vaporforge.errors import ConfigError
from vaporforge.upstream import DeadlineExceeded, TooLarge, UpstreamError, post

log = logging.getLogger("vaporforge.webhooks")

HEADER = "VaporForge-Signature"
USER_AGENT = "vaporforge-login-broker (webhooks)"


def webhook_url_var(name: str, raw: str) -> str:
    """The settings' parser for ``VF_WEBHOOK_URL``."""
    if not url_allowed(raw):
        raise ConfigError(f"{name} must be an https URL (http only for a loopback address)")
    return raw


def webhook_secret_var(name: str, raw: str) -> str:
    """The settings' parser for ``VF_WEBHOOK_SECRET``."""
    if len(raw) < 16:
        raise ConfigError(f"{name} must be at least 16 characters")
    return raw


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or "v1" not in parts:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = signature(secret, int(stamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts["v1"])


def backoff(attempt: int) -> int:
    """Seconds before retry ``attempt`` (1-based): 1, 2, 4, … up to 600."""
    return int(min(defaults.WEBHOOK_BACKOFF_MAX,
                   defaults.WEBHOOK_BACKOFF_START * 2 ** max(0, min(attempt - 1, 20))))


def deliver(url: str, secret: str, body: str, *, timeout: float = defaults.WEBHOOK_TIMEOUT,
            now: float | None = None) -> bool:
    """POST ``body`` to ``url`` once, signed with ``secret``; True on any 2xx
    within ``timeout`` seconds in all (an answer over ``WEBHOOK_MAX_ANSWER``
    bytes is a failed attempt). Logs only the outcome and the host."""
    raw = body.encode("utf-8")
    stamp = int(time.time() if now is None else now)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               HEADER: signature(secret, stamp, raw)}
    try:
        status, _ = post(url, headers, data=raw, deadline=timeout,
                         connect_timeout=min(defaults.WEBHOOK_CONNECT_TIMEOUT, timeout),
                         max_bytes=defaults.WEBHOOK_MAX_ANSWER)
    except (DeadlineExceeded, TooLarge, UpstreamError) as exc:
        # Only the kind is logged: an exception's text may carry the URL.
        log.warning("webhook to %s: not delivered (%s)", urlsplit(url).hostname,
                    type(exc).__name__)
        return False
    if 200 <= status < 300:
        return True
    log.warning("webhook to %s: answered %s", urlsplit(url).hostname, status)
    return False
