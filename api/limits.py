"""Rate limits (Flask-Limiter, in Redis), keyed so that nobody spends another's.

- creations, refreshes, ``/readyz``, ``/api/auth/modes``, ``/metrics`` (once the caller is
  let in) and failed session look-ups: per client network (an IPv4 address, or the /64 an
  IPv6 client holds);
- polls (GET, HEAD) and actions (code, claim, cancel): per session, counted
  only when the bearer token matches, and only for well-formed ids; the count
  is stepped in the same script that reads the session (one round trip), on
  the project's own key and fixed-window rule (:func:`vaporforge.keys.rate_count_key`);
- one counter step per request; on 429 the answer carries ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from vaporforge import connections
from vaporforge.errors import RateLimited
from vaporforge.keys import rate_count_key
from vaporforge.session.record import WindowCounter
from vaporforge.settings import Settings

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
        self.key_prefix = settings.key_prefix
        self.items = {LimitKind.POLL: parse(settings.poll_rate),
                      LimitKind.ACTION: parse(settings.action_rate),
                      LimitKind.PROBE: parse(settings.probe_rate),
                      LimitKind.METRICS: parse(settings.probe_rate)}
        self._parsed: dict[str, RateLimitItem] = {}

    def hit_rate(self, rate: str, scope: str, identity: str) -> None:
        """Count one request of ``identity`` against ``rate`` (per ``scope``);
        RateLimited with Retry-After beyond it."""
        item = self._parsed.get(rate) or self._parsed.setdefault(rate, parse(rate))
        if not self.limiter.limiter.hit(item, self.prefix, scope, identity):
            stats = self.limiter.limiter.get_window_stats(item, self.prefix, scope, identity)
            raise RateLimited(item, stats.reset_time)

    def hit(self, kind: LimitKind, identity: str) -> None:
        if not self.limiter.limiter.hit(self.items[kind], self.prefix, kind.value, identity):
            self.refuse(kind, identity)

    def counter(self, kind: LimitKind, identity: str) -> WindowCounter:
        """The per-session counter for ``kind``/``identity``, for the session
        read to step (one round trip per poll): its window is the limit's."""
        return WindowCounter(rate_count_key(self.key_prefix, kind.value, identity),
                             self.items[kind].get_expiry())

    def check(self, kind: LimitKind, counter: WindowCounter, hits: int,
              window_left: Callable[[WindowCounter], int]) -> None:
        """Refuse once the counter is past the limit (fixed window: the count
        stepped by the read exceeds the limit's amount); Retry-After is what is
        left of the counter's window."""
        item = self.items[kind]
        if hits > item.amount:
            raise RateLimited(item, time.time() + max(1, window_left(counter)))

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
    views["modes.Modes"] = limiter.limit(settings.probe_rate)(views["modes.Modes"])
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


def check_session(kind: LimitKind, counter: WindowCounter, hits: int,
                  window_left: Callable[[WindowCounter], int]) -> None:
    """Refuse (429 with Retry-After) once ``hits`` on ``counter`` pass the limit."""
    current_app.extensions[EXTENSION].check(kind, counter, hits, window_left)


def hit_rate(rate: str, scope: str, identity: str) -> None:
    """A limit the route counts itself (per host key, per host user); ``identity``
    must hold no secret (it is part of a Redis key): pass a name or a digest."""
    current_app.extensions[EXTENSION].hit_rate(rate, scope, identity)


def hit_metrics() -> None:
    """Count a /metrics scrape against the client's network (VF_PROBE_RATE, as /readyz)."""
    current_app.extensions[EXTENSION].hit(LimitKind.METRICS, client_network())


def refuse_probe() -> None:
    """Count a failed session look-up against the client's network."""
    current_app.extensions[EXTENSION].hit(LimitKind.PROBE, client_network())
