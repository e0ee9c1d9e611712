"""SessionStore: every Redis read and write of a session's own state.

Contract:
- every key written here has a TTL, and no step ever recreates a vanished
  session hash (a Redis restart or eviction leaves nothing without a TTL);
- the store decides nothing: :mod:`vaporforge.session.lifecycle` computes each
  step's from/to states with :func:`~vaporforge.session.states.transition`, and
  the store applies a step only if the session is still in the state the
  caller saw (compare-and-set, one Lua file per step under ``lua/``);
- the steps (create, read, move, claim, take, and the warm pool's bind and
  withdraw) are called by the lifecycle only;
- a session that ends without a claim loses its payload in the same step, and
  only then; the credential payload is handed out at most once;
- "a worker has room" is defined once, here (:func:`registration`,
  :func:`worker_room`, :meth:`Room.limit`): create uses it, and the registry,
  which writes the registrations, reads its counts through it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import redis

from vaporforge import defaults
from vaporforge.events import AuditSink, EventSink
from vaporforge.keys import GLOBAL_KINDS, KeyKind, key_for
from vaporforge.session.record import (
    Claimed,
    Created,
    Moved,
    SessionRecord,
    Snapshot,
    Taken,
    WindowCounter,
    as_fields,
)
from vaporforge.session.scripts import Script
from vaporforge.session.states import SessionState

WAKE = "\x00wake"
"""Pushed onto the code list to wake the owning worker (cancel) without a code."""


def _pairs(values: Mapping[str, str]) -> list[str]:
    return [item for pair in values.items() for item in pair]


# -- admission's capacity: the workers' registrations ----------------------------------
# Written by vaporforge.registry (register_worker), counted here for create and for the
# registry's reads (/readyz, /metrics): "a worker has room" has this one definition.
def registration(capacity: int, until: int) -> str:
    """A worker's entry in the workers hash: ``capacity`` login slots, counted
    until the time ``until`` (s) unless renewed."""
    return f"{capacity}:{until}"


class Room(NamedTuple):
    """The workers as admission sees them at one moment."""

    workers: int
    """Registrations not yet past their time."""
    capacity: int
    """Those workers' summed login slots."""
    lapsed: tuple[str, ...] = ()
    """Names whose registration is past its time or unreadable (a worker that
    died without unregistering)."""

    def limit(self, max_sessions: int) -> int:
        """How many live sessions admission allows: ``max_sessions``
        (VF_MAX_SESSIONS), or the live workers' summed capacity when that is
        lower; with no live worker, ``max_sessions``."""
        return min(max_sessions, self.capacity) if self.workers else max_sessions


def worker_room(registrations: Mapping[str, str], now: int) -> Room:
    """:class:`Room` from the workers hash (name -> :func:`registration`): a
    registration counts while its time is ``now`` or later."""
    workers, capacity, lapsed = 0, 0, []
    for name, value in registrations.items():
        found = re.fullmatch(r"([0-9]+):([0-9]+)", value)
        if found and int(found[2]) >= now:
            workers += 1
            capacity += int(found[1])
        else:
            lapsed.append(name)
    return Room(workers, capacity, tuple(lapsed))


class SessionStore:
    """All session state in Redis. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, prefix: str = defaults.KEY_PREFIX,
                 clock: Callable[[], float] = time.time,
                 events: EventSink | None = None) -> None:
        # decode_responses=True: every reply is str, which redis-py's hints cannot say.
        self.redis: Any = client
        self.prefix = prefix
        self.clock = clock
        self.events: EventSink = events if events is not None else AuditSink()
        """Where the lifecycle announces its steps (vaporforge.session.announce)."""
        self._create = Script(client, "create")
        self._read = Script(client, "read")
        self._move = Script(client, "move")
        self._claim = Script(client, "claim")
        self._take = Script(client, "take")

    def key(self, kind: KeyKind, session_id: str = "") -> str:
        return key_for(self.prefix, kind, session_id)

    def _keys(self, session_id: str, **kinds: KeyKind) -> dict[str, str]:
        return {name: self.key(kind, "" if kind in GLOBAL_KINDS else session_id)
                for name, kind in kinds.items()}

    def now(self) -> int:
        return int(self.clock())

    # -- steps (lua/*.lua) ---------------------------------------------------------
    def create(self, *, record: SessionRecord, max_sessions: int) -> Created:
        """create.lua: store ``record`` unless live sessions reach ``max_sessions``
        or the live workers' summed capacity (:meth:`Room.limit`, read just
        before), in one step."""
        sid = record.session_id
        found = self._create(
            keys=self._keys(sid, session=KeyKind.SESSION, live=KeyKind.LIVE,
                            metrics=KeyKind.METRICS),
            argv={"limit": self.room().limit(max_sessions), "now": self.now(),
                  "expire_at": record.expires_at + defaults.RECORD_GRACE, "session_id": sid,
                  "metrics_ttl": defaults.METRICS_TTL},
            more_argv=_pairs(record.to_hash()))
        return Created(bool(found))

    def read(self, *, session_id: str, count: WindowCounter | None = None,
             token_hash: str = "") -> Snapshot | None:
        """read.lua: the record with its heartbeat and payload presence, in one
        step; with ``count``, that counter is stepped in the same step if
        ``token_hash`` is the session's."""
        found = self._read(
            keys=self._keys(session_id, session=KeyKind.SESSION, heartbeat=KeyKind.HEARTBEAT,
                            payload_key=KeyKind.PAYLOAD),
            argv={"token_hash": token_hash, "window": max(1, count.window) if count else 0,
                  "now": self.now()},
            more_keys=[count.key] if count else [])
        if not found:
            return None
        flat, beating, payload, hits = found
        data = dict(zip(flat[::2], flat[1::2], strict=True))
        if "state" not in data:
            return None
        return Snapshot(SessionRecord.from_hash(data), bool(beating), bool(payload), int(hits))

    def get(self, session_id: str) -> SessionRecord | None:
        """The record alone (a read without a counter)."""
        snapshot = self.read(session_id=session_id)
        return snapshot.record if snapshot else None

    def move(self, *, session_id: str, expect: SessionState, to: SessionState,
             fields: Mapping[str, Any] | None = None, attempt_cap: int = 0,
             only_without_heartbeat: bool = False, payload: str = "", payload_ttl: float = 0,
             push: str = "", push_ttl: float = 0) -> Moved:
        """move.lua: ``expect`` → ``to`` in one step if the session is still ``expect``.

        With ``payload``, the payload is stored in the same step; reaching a
        terminal state drops any payload; ``push`` goes onto the code list."""
        changes = as_fields({**(fields or {}), "updated_at": self.now()})
        status, found = self._move(
            keys=self._keys(session_id, session=KeyKind.SESSION, payload_key=KeyKind.PAYLOAD,
                            live=KeyKind.LIVE, heartbeat=KeyKind.HEARTBEAT, code=KeyKind.CODE,
                            metrics=KeyKind.METRICS),
            argv={"expect": expect.value, "to": to.value, "terminal": int(to.terminal),
                  "record_grace": defaults.RECORD_GRACE, "attempt_cap": attempt_cap,
                  "only_without_heartbeat": int(only_without_heartbeat), "payload": payload,
                  "payload_ttl": max(1, math.ceil(payload_ttl)), "push": push,
                  "push_ttl": max(1, math.ceil(push_ttl)), "session_id": session_id,
                  "error_code": changes.get("error_code", ""),
                  "metrics_ttl": defaults.METRICS_TTL},
            more_argv=_pairs(changes))
        current = SessionState(found) if found else None
        return Moved(status == 1, current, over_cap=status == -1)

    def claim(self, *, session_id: str, expect: SessionState, to: SessionState) -> Claimed:
        """claim.lua: the payload once, moving ``expect`` → ``to``."""
        value = self._claim(
            keys=self._keys(session_id, session=KeyKind.SESSION, payload_key=KeyKind.PAYLOAD,
                            live=KeyKind.LIVE, metrics=KeyKind.METRICS),
            argv={"expect": expect.value, "to": to.value, "now": self.now(),
                  "record_grace": defaults.RECORD_GRACE, "session_id": session_id,
                  "metrics_ttl": defaults.METRICS_TTL})
        return Claimed(value or None)

    def take(self, *, session_id: str, expect: SessionState, to: SessionState, owner: str,
             heartbeat_ttl: int) -> Taken:
        """take.lua: ``owner`` owns the ``expect`` session now (nobody did before);
        the first heartbeat is written in the same step."""
        taken = self._take(
            keys=self._keys(session_id, session=KeyKind.SESSION, heartbeat=KeyKind.HEARTBEAT),
            argv={"expect": expect.value, "to": to.value, "owner": owner,
                  "heartbeat_ttl": heartbeat_ttl})
        return Taken(bool(taken))

    def swap_user_login(self, user: str, session_id: str, ttl: int) -> str | None:
        """Make ``session_id`` the live login of ``user`` (a digest, see
        :func:`vaporforge.access.user_digest`); the one it replaces, if any."""
        older = self.redis.set(self.key(KeyKind.USER, user), session_id, ex=ttl, get=True)
        return older if older and older != session_id else None

    def user_login(self, user: str) -> str | None:
        """The login :meth:`swap_user_login` last made ``user``'s (it may have ended)."""
        found = self.redis.get(self.key(KeyKind.USER, user))
        return str(found) if found else None

    # -- code hand-off -----------------------------------------------------------------
    def wait_code(self, session_id: str, timeout: float) -> str | None:
        """Block up to ``timeout`` s for the next code (or :data:`WAKE`)."""
        item = self.redis.blpop([self.key(KeyKind.CODE, session_id)], timeout=timeout)
        return None if item is None else item[1]

    def wake(self, session_id: str) -> None:
        """Wake the owning worker's wait for a code at once (it re-reads the session)."""
        key = self.key(KeyKind.CODE, session_id)
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, WAKE)
            pipe.expire(key, defaults.WAKE_TTL)
            pipe.execute()

    def drop_codes(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.CODE, session_id))

    def window_left(self, counter: WindowCounter) -> int:
        """Seconds until ``counter``'s window ends (its key's TTL; 0 when gone)."""
        return max(0, int(self.redis.ttl(counter.key)))

    # -- liveness ----------------------------------------------------------------------
    def beat(self, session_id: str, owner: str, ttl: int) -> None:
        """Renew a heartbeat; never recreates one that was dropped or lapsed."""
        self.redis.set(self.key(KeyKind.HEARTBEAT, session_id), owner, ex=ttl, xx=True)

    def drop_heartbeat(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.HEARTBEAT, session_id))

    def live_session_ids(self) -> set[str]:
        return set(self.redis.zrange(self.key(KeyKind.LIVE), 0, -1))

    def count_live(self) -> int:
        """Live sessions whose time has not run out: what create.lua counts."""
        return int(self.redis.zcount(self.key(KeyKind.LIVE), self.now(), "+inf"))

    def live_states(self) -> dict[str, int]:
        """How many of the sessions :meth:`count_live` counts are in each state now."""
        ids = list(self.redis.zrangebyscore(self.key(KeyKind.LIVE), self.now(), "+inf"))
        with self.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hget(self.key(KeyKind.SESSION, session_id), "state")
            states = pipe.execute()
        counts: dict[str, int] = {}
        for state in states:
            if state:
                counts[state] = counts.get(state, 0) + 1
        return counts

    def room(self) -> Room:
        """The workers' room now (:func:`worker_room` over their registrations)."""
        return worker_room(self.redis.hgetall(self.key(KeyKind.WORKERS)), self.now())

    def live_place_ids(self) -> set[str]:
        """Live session ids and the names of their places (a warm entry's differs)."""
        ids = self.live_session_ids()
        with self.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hget(self.key(KeyKind.SESSION, session_id), "place_id")
            places = pipe.execute()
        return ids | {place for place in places if place}

    def forget_live(self, session_id: str) -> None:
        self.redis.zrem(self.key(KeyKind.LIVE), session_id)
