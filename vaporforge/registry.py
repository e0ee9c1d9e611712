"""The broker-wide registers beside the sessions: the workers' registrations
(admission's capacity), the CLI version each runtime reported (``/readyz``),
and the reads behind ``/readyz`` and ``/metrics``.

Contract: every key written here has a TTL; nothing here moves a session (the
counters it reads are kept by the session steps, see :mod:`vaporforge.session`),
nor reads a session's keys: live sessions and the workers' room are read
through :class:`~vaporforge.session.store.SessionStore`, which holds the one
definition of "a worker has room".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from vaporforge import defaults
from vaporforge.keys import KeyKind, key_for
from vaporforge.session.store import SessionStore, registration


class Registry:
    """``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, prefix: str = defaults.KEY_PREFIX,
                 clock: Callable[[], float] = time.time,
                 sessions: SessionStore | None = None) -> None:
        self.redis: Any = client
        self.prefix = prefix
        self.clock = clock
        self.sessions = sessions if sessions is not None else SessionStore(client, prefix, clock)
        """The session store it reads live sessions and the workers' room through."""

    @classmethod
    def beside(cls, store: SessionStore) -> Registry:
        """The registry in the same Redis, under the same prefix, as ``store``."""
        return cls(store.redis, store.prefix, store.clock, sessions=store)

    def key(self, kind: KeyKind, name: str = "") -> str:
        return key_for(self.prefix, kind, name)

    def now(self) -> int:
        return int(self.clock())

    def ping(self) -> bool:
        return bool(self.redis.ping())

    # -- workers -------------------------------------------------------------------
    def report_cli_version(self, runtime: str, version: str) -> None:
        self.redis.set(self.key(KeyKind.CLI_VERSION, runtime), version,
                       ex=defaults.CLI_VERSION_TTL)

    def cli_versions(self) -> dict[str, str]:
        names = ("local", "docker")
        values = self.redis.mget([self.key(KeyKind.CLI_VERSION, name) for name in names])
        return {name: value for name, value in zip(names, values, strict=True) if value}

    def register_worker(self, owner: str, capacity: int, ttl: int) -> None:
        key = self.key(KeyKind.WORKERS)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, owner, registration(capacity, self.now() + ttl))
            pipe.expire(key, ttl)
            pipe.execute()

    def unregister_worker(self, owner: str) -> None:
        self.redis.hdel(self.key(KeyKind.WORKERS), owner)

    def worker_capacity(self) -> tuple[int, int]:
        """(live workers, their summed capacity), as admission counts them
        (:meth:`SessionStore.room`); lapsed registrations (a worker that died
        without unregistering) are dropped."""
        room = self.sessions.room()
        if room.lapsed:
            self.redis.hdel(self.key(KeyKind.WORKERS), *room.lapsed)
        return room.workers, room.capacity

    # -- observability ---------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """The broker-wide counters the session steps keep (created, reached,
        ended by state and code), summed over every process."""
        raw = self.redis.hgetall(self.key(KeyKind.METRICS))
        return {name: int(value) for name, value in raw.items()}

    def count(self, name: str) -> None:
        """Add one to the broker-wide counter ``name`` (``kind:label:...``, read back by
        :meth:`counters`); the hash keeps its TTL as the session steps' counters do."""
        key = self.key(KeyKind.METRICS)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, name, 1)
            pipe.expire(key, defaults.METRICS_TTL)
            pipe.execute()

    def count_live(self) -> int:
        return self.sessions.count_live()

    def live_states(self) -> dict[str, int]:
        """How many live sessions are in each state now."""
        return self.sessions.live_states()
