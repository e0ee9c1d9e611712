"""The warm pool's side of the store: entries a worker offers, and the one
session that may take each (see the CREATE script, which binds in the same step
that creates the session).

Contract: an entry is taken by at most one session and withdrawn at most once;
whoever of the two comes first wins, atomically. Every key has a TTL the
offering worker renews; an entry whose worker died lapses and is skipped.
"""

from __future__ import annotations

from vaporforge import defaults
from vaporforge.keys import KeyKind
from vaporforge.states import LoginMode
from vaporforge.store import SessionStore
from vaporforge.store_scripts import WITHDRAW


class WarmStore:
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.redis = store.redis
        self._withdraw = self.redis.register_script(WITHDRAW)

    def _pool(self, mode: LoginMode) -> str:
        return self.store.key(KeyKind.WARM, mode.value)

    def _entry(self, entry_id: str) -> str:
        return self.store.key(KeyKind.WARM_ENTRY, entry_id)

    def offer(self, entry_id: str, mode: LoginMode, url: str, owner: str, ttl: int) -> None:
        """Make the entry takeable; it lapses unless :meth:`renew` runs within ``ttl``."""
        pool = self._pool(mode)
        with self.redis.pipeline() as pipe:
            pipe.hset(self._entry(entry_id), mapping={"url": url, "owner": owner,
                                                      "mode": mode.value})
            pipe.expire(self._entry(entry_id), ttl)
            pipe.zadd(pool, {entry_id: self.store.now()})
            pipe.expire(pool, ttl + defaults.RECORD_GRACE)
            pipe.execute()

    def renew(self, entry_id: str, mode: LoginMode, ttl: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.expire(self._entry(entry_id), ttl, xx=False)
            pipe.expire(self._pool(mode), ttl + defaults.RECORD_GRACE)
            pipe.execute()

    def withdraw(self, entry_id: str, mode: LoginMode) -> bool:
        """True when withdrawn; False when a session took the entry first."""
        return bool(self._withdraw(keys=[self._pool(mode), self._entry(entry_id)],
                                   args=[entry_id]))

    def wait_bound(self, entry_id: str, timeout: float) -> str | None:
        """The id of the session that took the entry, waiting up to ``timeout`` s."""
        item = self.redis.blpop([self.store.key(KeyKind.BIND, entry_id)], timeout=timeout)
        return None if item is None else item[1]

    def counts(self) -> dict[str, int]:
        """Entries offered now, per mode."""
        with self.redis.pipeline(transaction=False) as pipe:
            for mode in LoginMode:
                pipe.zcard(self._pool(mode))
            sizes = pipe.execute()
        return {mode.value: int(size) for mode, size in zip(LoginMode, sizes, strict=True)}

    def place_ids(self) -> set[str]:
        """Every warm entry still offered by a live worker (its place must not be
        reaped); entries whose key lapsed (their worker died) are dropped."""
        found: set[str] = set()
        for mode in LoginMode:
            ids = list(self.redis.zrange(self._pool(mode), 0, -1))
            with self.redis.pipeline(transaction=False) as pipe:
                for entry_id in ids:
                    pipe.exists(self._entry(entry_id))
                alive = pipe.execute()
            dead = [entry_id for entry_id, ok in zip(ids, alive, strict=True) if not ok]
            if dead:
                self.redis.zrem(self._pool(mode), *dead)
            found.update(entry_id for entry_id, ok in zip(ids, alive, strict=True) if ok)
        return found
