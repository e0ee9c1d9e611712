"""How every process reaches Redis: the session store, the rate limiter and the
Celery broker, from one Settings object.

Contract: callers never build a Redis client or URL themselves; whatever this
module returns follows the Redis it is configured for: a plain URL, or, with
``VF_REDIS_SENTINELS``, whichever server the sentinels name master of
``VF_REDIS_SENTINEL_MASTER`` (each new connection asks them, so a failover is
followed without a restart). Through Sentinel a URL's host part is ignored; its
database number and credentials are kept. Clients fail fast (bounded connect
and read timeouts) so a dead Redis becomes a clear error, not a hung request;
only the worker's long-lived client rides out a short outage (see
:func:`store_client`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from vaporforge.settings import Settings

CONNECT_TIMEOUT = 2
READ_TIMEOUT = 5
"""Seconds; a blocking pop passes its own, longer timeout per call."""
RETRY_PAUSE = 0.25
"""Seconds between two tries of the worker's client while Redis does not answer."""
MASTER_CHECK = 1.0
"""Seconds between two questions to the sentinels about who the master is."""

T = TypeVar("T")


class RetryFor(Retry):
    """redis-py's retry, bounded by time rather than by count: connection errors
    and time-outs are retried (each try on a fresh connection, which through
    Sentinel asks for the current master) until ``seconds`` have passed since
    the first try; then the last error is raised."""

    def __init__(self, seconds: float) -> None:
        super().__init__(ConstantBackoff(RETRY_PAUSE), -1)
        self.seconds = seconds

    def call_with_retry(self, do: Callable[[], T], fail: Callable[..., Any],
                        is_retryable: Callable[[Exception], bool] | None = None,
                        with_failure_count: bool = False) -> T:
        deadline = time.monotonic() + self.seconds
        failures = 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                if time.monotonic() + RETRY_PAUSE > deadline:
                    raise
                time.sleep(RETRY_PAUSE)


class MasterConnection(SentinelManagedConnection):
    """A connection to the master that asks the sentinels for its address on
    every (re)connect. redis-py 8.1 asks only when the pool hands the connection
    out; a reconnect inside a command's retry goes back to the old address
    (redis/redis-py#3874), so a retried command would never reach the new master."""

    def connect(self) -> None:
        self.retry.call_with_retry(
            lambda: self.connect_check_health(check_health=self.connection_pool.check_connection,
                                              retry_socket_connect=False),
            lambda error: self.disconnect(error))

    def connect_check_health(self, check_health: bool = True,
                             retry_socket_connect: bool = True) -> None:
        if not self._sock:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health, retry_socket_connect)


class FollowingPool(SentinelConnectionPool):
    """A pool of :class:`MasterConnection` that, handing out a connection, asks
    the sentinels (at most every ``MASTER_CHECK`` seconds) whether the master
    moved. After a planned switchover the old master stays writable until the
    sentinels demote it, up to ~10 s later, and whatever is written there is
    lost; when the master moved, idle connections are closed and busy ones are
    closed on release, so every command soon goes to the new master."""

    _checked_at = 0.0

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now >= self._checked_at + MASTER_CHECK:
            self._checked_at = now
            # No sentinel answering is no reason to refuse: the connection will tell.
            with contextlib.suppress(redis.ConnectionError):
                self.get_master_address()  # closes idle connections if it moved
        return super().get_connection(*args, **kwargs)


class FollowingBlockingPool(FollowingPool, redis.BlockingConnectionPool):
    """The same, blocking instead of growing when full (the worker's pool)."""


def _timeouts() -> dict[str, Any]:
    return {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": READ_TIMEOUT}


def _db_and_auth(url: str) -> dict[str, Any]:
    """The database number and credentials of a ``redis://`` URL."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    found: dict[str, Any] = {"db": int(path) if path.isdigit() else 0}
    if parts.username:
        found["username"] = unquote(parts.username)
    if parts.password:
        found["password"] = unquote(parts.password)
    return found


def _sentinel(settings: Settings) -> Sentinel:
    # Sentinels get only timeouts: the URL's password is the data servers'.
    return Sentinel(list(settings.redis_sentinels), sentinel_kwargs=_timeouts())


def store_client(settings: Settings, max_connections: int | None = None) -> redis.Redis:
    """The session store's client (``decode_responses=True``).

    ``max_connections`` is for a worker's long-lived client: the pool blocks
    (up to 10 s) instead of growing, and each command is retried on connection
    errors for up to ``heartbeat_ttl`` seconds, so a failover or a restart of
    Redis that short does not end the logins in flight (beyond that their
    heartbeats have lapsed anyway). Without it (the API), errors are raised at
    once and answered 503."""
    options: dict[str, Any] = {"decode_responses": True, "health_check_interval": 30,
                               **_timeouts()}
    if max_connections is not None:
        options["retry"] = RetryFor(settings.heartbeat_ttl)
        blocking = {"max_connections": max_connections, "timeout": 10}
    if settings.redis_sentinels:
        options.update(_db_and_auth(settings.redis_url), connection_class=MasterConnection)
        sentinel = _sentinel(settings)
        if max_connections is None:
            return sentinel.master_for(settings.redis_sentinel_master,
                                       connection_pool_class=FollowingPool, **options)
        return sentinel.master_for(settings.redis_sentinel_master,
                                   connection_pool_class=FollowingBlockingPool,
                                   **blocking, **options)
    if max_connections is None:
        return redis.Redis.from_url(settings.redis_url, **options)
    pool = redis.BlockingConnectionPool.from_url(settings.redis_url, **blocking, **options)
    return redis.Redis(connection_pool=pool)


def limiter_storage(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Flask-Limiter's ``storage_uri`` and ``storage_options``."""
    if not settings.redis_sentinels:
        return settings.redis_url, _timeouts()
    # limits' ``redis+sentinel://host:port,host:port/<service>``; the database
    # and credentials go to the data connections only (limits would also send
    # URL credentials to the sentinels), writes and reads both to the master.
    hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
                     for h, p in settings.redis_sentinels)
    return (f"redis+sentinel://{hosts}/{settings.redis_sentinel_master}",
            {**_timeouts(), **_db_and_auth(settings.redis_url), "use_replicas": False,
             "sentinel_kwargs": {**_timeouts(), "username": None, "password": None}})


def celery_broker(settings: Settings) -> dict[str, Any]:
    """Celery configuration for the broker connection. On a lost connection the
    worker's consumer reconnects by itself (after 0, 2, 6, 12, 20 … s) and the
    logins already running carry on (their tasks were acked at start)."""
    conf: dict[str, Any] = {"broker_connection_timeout": CONNECT_TIMEOUT,
                            # Celery 6 flips this; said here so it cannot change unseen.
                            "worker_cancel_long_running_tasks_on_connection_loss": False}
    if not settings.redis_sentinels:
        return {**conf, "broker_url": settings.broker_url}
    # kombu's Sentinel transport: ``sentinel://…;sentinel://…``, one entry per
    # sentinel, each carrying the database and credentials (kombu re-reads them
    # from whichever entry it tries next).
    found = _db_and_auth(settings.broker_url)
    auth = ""
    if "username" in found or "password" in found:
        auth = (f"{quote(found.get('username', ''), safe='')}:"
                f"{quote(found.get('password', ''), safe='')}@")
    broker_url = ";".join(f"sentinel://{auth}{f'[{h}]' if ':' in h else h}:{p}/{found['db']}"
                          for h, p in settings.redis_sentinels)
    return {**conf, "broker_url": broker_url,
            "broker_transport_options": {"master_name": settings.redis_sentinel_master,
                                         **_timeouts(), "sentinel_kwargs": _timeouts()}}
