"""The warm pool's side of the store: entries a worker offers, and the one
session that may take each.

Contract: an entry is taken by at most one session (bind_warm.lua) and
withdrawn at most once (withdraw.lua); whoever of the two comes first wins,
atomically. Every key has a TTL the offering worker renews; an entry whose
worker died lapses and is skipped. :meth:`WarmStore.bind` and
:meth:`WarmStore.withdraw` are steps: the lifecycle calls them.
"""

from __future__ import annotations

from vaporforge import defaults
from vaporforge.keys import KeyKind
from vaporforge.session.record import Bound, Withdrawn
from vaporforge.session.scripts import Script
from vaporforge.session.states import LoginMode, SessionState
from vaporforge.session.store import SessionStore

ENTRIES_PER_LOOK = 4
"""How many of the oldest entries one look at the pool passes to bind_warm.lua
(the rest wait for the next look)."""
_LOOKS = 4
"""How often a bind looks at the pool again when the entries it was given were all gone."""


class WarmStore:
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.redis = store.redis
        self._bind = Script(self.redis, "bind_warm")
        self._withdraw = Script(self.redis, "withdraw")

    def _pool(self, mode: LoginMode) -> str:
        return self.store.key(KeyKind.WARM, mode.value)

    def _entry(self, entry_id: str) -> str:
        return self.store.key(KeyKind.WARM_ENTRY, entry_id)

    # -- steps ---------------------------------------------------------------------------
    def bind(self, *, session_id: str, mode: LoginMode, expect: SessionState,
             to: SessionState, heartbeat_ttl: int) -> Bound:
        """bind_warm.lua: the ``expect`` session takes the oldest live entry of
        ``mode`` and moves to ``to``. The oldest entries' ids are read first and
        their keys passed in KEYS (``entry_keys``); when another session took
        them all meanwhile, look again."""
        for _ in range(_LOOKS):
            ids = list(self.redis.zrange(self._pool(mode), 0, ENTRIES_PER_LOOK - 1))
            if not ids:
                break
            status, place_id, url = self._bind(
                keys={"session": self.store.key(KeyKind.SESSION, session_id),
                      "heartbeat": self.store.key(KeyKind.HEARTBEAT, session_id),
                      "metrics": self.store.key(KeyKind.METRICS), "pool": self._pool(mode)},
                argv={"expect": expect.value, "to": to.value, "session_id": session_id,
                      "heartbeat_ttl": heartbeat_ttl, "bind_ttl": defaults.BIND_TTL,
                      "metrics_ttl": defaults.METRICS_TTL},
                more_keys=[key for entry_id in ids for key in (
                    self._entry(entry_id), self.store.key(KeyKind.BIND, entry_id))],
                more_argv=ids)
            if status == 1:
                return Bound(place_id, url)
            if status == -1:
                break
        return Bound()

    def withdraw(self, *, entry_id: str, mode: LoginMode) -> Withdrawn:
        """withdraw.lua: True when withdrawn; False when a session took the entry first."""
        removed = self._withdraw(keys={"pool": self._pool(mode), "entry": self._entry(entry_id)},
                                 argv={"entry_id": entry_id})
        return Withdrawn(bool(removed))

    # -- the offering worker --------------------------------------------------------------
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

    def wait_bound(self, entry_id: str, timeout: float) -> str | None:
        """The id of the session that took the entry, waiting up to ``timeout`` s."""
        item = self.redis.blpop([self.store.key(KeyKind.BIND, entry_id)], timeout=timeout)
        return None if item is None else item[1]

    # -- reads -----------------------------------------------------------------------------
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
