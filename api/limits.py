"""Rate limits (Flask-Limiter, in Redis), keyed so that nobody spends another's.

- creations, refreshes, ``/readyz``, ``/metrics`` (once the caller is let in) and failed
  session look-ups: per client network (an IPv4 address, or the /64 an IPv6 client holds);
- polls (GET, HEAD) and actions (code, claim, cancel): per session, counted
  only when the bearer token matches, and only for well-formed ids; the count
  is stepped by the store in the same script that reads the session (one round
  trip), on the limits library's own key and fixed-window rule;
- one counter step per request; on 429 the answer carries ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from limits.storage import RedisStorage

from vaporforge import connections
from vaporforge.errors import RateLimited
from vaporforge.settings import Settings
from vaporforge.store import WindowCounter

EXTENSION = "vaporforge_limits"


class LimitKind(StrEnum):
    POLL = "poll"
    ACTION = "action"
    PROBE = "probe"
    METRICS = "metrics"


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
                      LimitKind.PROBE: parse(settings.probe_rate),
                      LimitKind.METRICS: parse(settings.probe_rate)}

    def hit(self, kind: LimitKind, identity: str) -> None:
        if not self.limiter.limiter.hit(self.items[kind], self.prefix, kind.value, identity):
            self.refuse(kind, identity)

    def counter(self, kind: LimitKind, identity: str) -> WindowCounter:
        """The limits library's own counter for ``kind``/``identity``, for the
        store to step within its session read (one round trip per poll)."""
        item = self.items[kind]
        storage = self.limiter.limiter.storage
        if not isinstance(storage, RedisStorage):  # the store's script steps it in Redis
            raise TypeError("per-session limits need the Redis storage")
        return WindowCounter(storage.prefixed_key(item.key_for(self.prefix, kind.value, identity)),
                             item.get_expiry())

    def check(self, kind: LimitKind, identity: str, hits: int) -> None:
        """Refuse once the counter stepped by :meth:`counter` is past the limit
        (the limits library's fixed-window rule)."""
        if hits > self.items[kind].amount:
            self.refuse(kind, identity)

    def refuse(self, kind: LimitKind, identity: str) -> None:
        item = self.items[kind]
        stats = self.limiter.limiter.get_window_stats(item, self.prefix, kind.value, identity)
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

    @limiter.request_filter
    def _counted_by_the_route() -> bool:
        # Skips Flask-Limiter's per-request resolution (a tenth of a poll's
        # Python time): these routes carry no decorated limit and count per
        # session themselves.
        return request.endpoint in PER_SESSION_ENDPOINTS

    return limiter


PER_SESSION_ENDPOINTS = frozenset({"sessions.Session", "sessions.Code", "sessions.Credentials"})
"""Routes limited per session (by :func:`check_session`), not by Flask-Limiter."""


def session_counter(kind: LimitKind, session_id: str) -> WindowCounter:
    """The per-session counter the session read steps for the token holder."""
    return current_app.extensions[EXTENSION].counter(kind, session_id)


def check_session(kind: LimitKind, session_id: str, hits: int) -> None:
    current_app.extensions[EXTENSION].check(kind, session_id, hits)


def hit_metrics() -> None:
    """Count a /metrics scrape against the client's network (VF_PROBE_RATE, as /readyz)."""
    current_app.extensions[EXTENSION].hit(LimitKind.METRICS, client_network())


def refuse_probe() -> None:
    """Count a failed session look-up against the client's network."""
    current_app.extensions[EXTENSION].hit(LimitKind.PROBE, client_network())
