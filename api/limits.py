"""Rate limits (Flask-Limiter, in Redis), keyed so that nobody spends another's.

- creations, refreshes, ``/readyz`` and failed session look-ups: per client network (an
  IPv4 address, or the /64 an IPv6 client holds);
- polls (GET, HEAD) and actions (code, claim, cancel): per session, counted
  only after the bearer token matched, and only for well-formed ids;
- one counter step per request; on 429 the answer carries ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from enum import StrEnum
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from vaporforge import connections
from vaporforge.errors import BrokerError, ErrorCode
from vaporforge.settings import Settings

EXTENSION = "vaporforge_limits"


class LimitKind(StrEnum):
    POLL = "poll"
    ACTION = "action"
    PROBE = "probe"


class RateLimited(BrokerError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, item: RateLimitItem, reset_at: float) -> None:
        super().__init__(f"Too many requests: at most {item}; try again later.")
        self.headers = {"Retry-After": str(max(1, math.ceil(reset_at - time.time())))}


def client_network() -> str:
    """The client's address, widened to its /64 for IPv6 (one host holds a /64)."""
    address = get_remote_address()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class SessionLimits:
    def __init__(self, limiter: Limiter, settings: Settings) -> None:
        self.limiter = limiter
        self.prefix = f"{settings.key_prefix}:limit"
        self.items = {LimitKind.POLL: parse(settings.poll_rate),
                      LimitKind.ACTION: parse(settings.action_rate),
                      LimitKind.PROBE: parse(settings.probe_rate)}

    def hit(self, kind: LimitKind, identity: str) -> None:
        item = self.items[kind]
        if not self.limiter.limiter.hit(item, self.prefix, kind.value, identity):
            stats = self.limiter.limiter.get_window_stats(item, self.prefix, kind.value,
                                                          identity)
            raise RateLimited(item, stats.reset_time)


def install(app: Flask, settings: Settings) -> Limiter:
    """Limit creations and ``/readyz`` per client network; keep the per-session
    limits for the routes to call once the token matched."""
    storage_uri, storage_options = connections.limiter_storage(settings)
    limiter = Limiter(client_network, app=app, storage_uri=storage_uri,
                      storage_options=storage_options, key_prefix=f"{settings.key_prefix}:limit",
                      strategy="fixed-window", headers_enabled=False, swallow_errors=False)
    views: dict[str, Any] = app.view_functions
    views["sessions.Sessions"] = limiter.limit(settings.create_rate, methods=["POST"])(
        views["sessions.Sessions"])
    views["health.Ready"] = limiter.limit(settings.probe_rate)(views["health.Ready"])
    views["refresh.Refresh"] = limiter.limit(settings.refresh_rate, methods=["POST"])(
        views["refresh.Refresh"])
    app.extensions[EXTENSION] = SessionLimits(limiter, settings)
    return limiter


def limit_session(kind: LimitKind, session_id: str) -> None:
    current_app.extensions[EXTENSION].hit(kind, session_id)


def refuse_probe() -> None:
    """Count a failed session look-up against the client's network."""
    current_app.extensions[EXTENSION].hit(LimitKind.PROBE, client_network())
