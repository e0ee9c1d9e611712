"""How every process reaches Redis: the store, the rate limiter and the Celery
broker, from one Settings object.

Contract: callers never build a Redis client or URL themselves; whatever this
module returns follows the Redis it is configured for (a plain URL today).
Clients fail fast (bounded connect and read timeouts) so a dead Redis becomes
a clear error, not a hung request.
"""

from __future__ import annotations

from typing import Any

import redis

from vaporforge.settings import Settings

CONNECT_TIMEOUT = 2
READ_TIMEOUT = 5
"""Seconds; a blocking pop passes its own, longer timeout per call."""


def store_client(settings: Settings, max_connections: int | None = None) -> redis.Redis:
    """The session store's client (``decode_responses=True``). With
    ``max_connections`` the pool blocks (up to 10 s) instead of growing."""
    options: dict[str, Any] = {"decode_responses": True, "health_check_interval": 30,
                               "socket_connect_timeout": CONNECT_TIMEOUT,
                               "socket_timeout": READ_TIMEOUT}
    if max_connections is None:
        return redis.Redis.from_url(settings.redis_url, **options)
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=max_connections, timeout=10, **options)
    return redis.Redis(connection_pool=pool)


def limiter_storage(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's ``storage_uri`` and ``storage_options``."""
    return settings.redis_url, {"socket_connect_timeout": CONNECT_TIMEOUT,
                                "socket_timeout": READ_TIMEOUT}


def celery_broker(settings: Settings) -> dict[str, Any]:
    """Celery configuration for the broker connection."""
    return {"broker_url": settings.broker_url, "broker_connection_timeout": CONNECT_TIMEOUT}
