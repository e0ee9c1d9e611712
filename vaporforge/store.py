"""SessionStore: every Redis read and write of the broker's session state.

Contract:
- every key written here has a TTL, and no script ever recreates a vanished
  session hash (a Redis restart or eviction leaves nothing without a TTL);
- the store decides nothing: :mod:`vaporforge.lifecycle` says which state may
  follow which, and the store applies a move only if the session is still in
  the state the caller saw (compare-and-set, one Lua script per step);
- a session that ends without a claim loses its payload in the same step, and
  only then; the credential payload is handed out at most once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import redis

from vaporforge import defaults
from vaporforge.keys import GLOBAL_KINDS, KeyKind, key_for
from vaporforge.states import LoginMode, SessionState
from vaporforge.store_scripts import CLAIM, CREATE, MOVE, READ, TAKE

WAKE = "\x00wake"
"""Pushed onto the code list to wake the owning worker (cancel) without a code."""

def as_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """Hash fields as Redis stores them: enums by value, everything else str()."""
    return {k: str(v.value if isinstance(v, Enum) else v) for k, v in values.items()}


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    mode: LoginMode
    state: SessionState
    token_hash: str
    created_at: int
    expires_at: int
    oauth_url: str = ""
    error_code: str = ""
    error_message: str = ""
    owner: str = ""
    attempts: int = 0
    updated_at: int = 0
    client_key: str = ""
    """The browser's public JWK (JSON) the payload is sealed to; public, not a secret."""
    start_by: int = 0
    """When a worker must have taken the session (else ``not_started``); 0: no bound."""
    place_id: str = ""
    """The name of the login place when it is not the session id (a warm entry's)."""

    def to_hash(self) -> dict[str, str]:
        out = as_fields(asdict(self))
        if not self.owner:
            del out["owner"]  # set once, by the worker that takes the session (HSETNX)
        return out

    @classmethod
    def from_hash(cls, data: Mapping[str, str]) -> SessionRecord:
        return cls(
            session_id=data["session_id"], mode=LoginMode(data["mode"]),
            state=SessionState(data["state"]), token_hash=data["token_hash"],
            created_at=int(data["created_at"]), expires_at=int(data["expires_at"]),
            oauth_url=data.get("oauth_url", ""), error_code=data.get("error_code", ""),
            error_message=data.get("error_message", ""), owner=data.get("owner", ""),
            attempts=int(data.get("attempts", 0) or 0),
            updated_at=int(data.get("updated_at", 0) or 0),
            client_key=data.get("client_key", ""),
            start_by=int(data.get("start_by", 0) or 0),
            place_id=data.get("place_id", ""),
        )


@dataclass(frozen=True)
class Created:
    """A new session; bound to the warm entry ``place_id`` (its CLI showing
    ``oauth_url``) when both are set."""

    place_id: str = ""
    oauth_url: str = ""


@dataclass(frozen=True)
class Snapshot:
    """A session as one atomic read saw it."""

    record: SessionRecord
    heartbeat_alive: bool
    payload_present: bool
    hits: int = 0
    """The counter's value after this read's step (0: not counted)."""


@dataclass(frozen=True)
class WindowCounter:
    """A fixed-window counter a read steps for the session's token holder:
    ``key`` (kept for ``window`` seconds from its first step)."""

    key: str
    window: int


@dataclass(frozen=True)
class Moved:
    """What :meth:`SessionStore.move` did: ``applied``, or the state it found
    instead (``None``: the record is gone); ``over_cap`` when the attempt cap
    refused the move."""

    applied: bool
    state: SessionState | None
    over_cap: bool = False


class SessionStore:
    """All session state in Redis. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, prefix: str = defaults.KEY_PREFIX,
                 clock: Callable[[], float] = time.time) -> None:
        # decode_responses=True: every reply is str, which redis-py's hints cannot say.
        self.redis: Any = client
        self.prefix = prefix
        self.clock = clock
        self._read = client.register_script(READ)
        self._move = client.register_script(MOVE)
        self._claim = client.register_script(CLAIM)
        self._take = client.register_script(TAKE)
        self._create = client.register_script(CREATE)

    def key(self, kind: KeyKind, session_id: str = "") -> str:
        return key_for(self.prefix, kind, session_id)

    def _keys(self, session_id: str, *kinds: KeyKind) -> list[str]:
        return [self.key(kind, "" if kind in GLOBAL_KINDS else session_id) for kind in kinds]

    def now(self) -> int:
        return int(self.clock())

    # -- records -------------------------------------------------------------
    def create(self, record: SessionRecord, max_sessions: int, *, warm: bool = False,
               heartbeat_ttl: int = defaults.HEARTBEAT_TTL) -> Created | None:
        """Store a new session unless live sessions reach ``max_sessions`` or the
        live workers' summed capacity (None: refused), in one step; with
        ``warm``, bound in that step to a warm entry of its mode when one waits."""
        keys = self._keys(record.session_id, KeyKind.SESSION, KeyKind.LIVE, KeyKind.WORKERS,
                          KeyKind.METRICS, KeyKind.HEARTBEAT)
        fields = [item for pair in record.to_hash().items() for item in pair]
        until = record.expires_at + defaults.RECORD_GRACE
        pool = self.key(KeyKind.WARM, record.mode.value) if warm else ""
        found = self._create(keys=keys, args=[
            max_sessions, self.now(), until, record.session_id, defaults.METRICS_TTL, pool,
            self.key(KeyKind.WARM_ENTRY, "-")[:-1], self.key(KeyKind.BIND, "-")[:-1],
            heartbeat_ttl, SessionState.AWAITING_CODE.value, defaults.BIND_TTL, *fields])
        if not found:
            return None
        _, place_id, url = found
        return Created(place_id=place_id, oauth_url=url)

    def read(self, session_id: str, *, count: WindowCounter | None = None,
             token_hash: str = "") -> Snapshot | None:
        """The record with its heartbeat and payload presence, in one step; with
        ``count``, that counter is stepped in the same step if ``token_hash`` is
        the session's."""
        keys = self._keys(session_id, KeyKind.SESSION, KeyKind.HEARTBEAT, KeyKind.PAYLOAD)
        args: list[str | int] = []
        if count is not None:
            keys.append(count.key)
            args = [token_hash, max(1, count.window)]
        found = self._read(keys=keys, args=args)
        if not found:
            return None
        flat, beating, payload, hits = found
        data = dict(zip(flat[::2], flat[1::2], strict=True))
        if "state" not in data:
            return None
        return Snapshot(SessionRecord.from_hash(data), bool(beating), bool(payload), int(hits))

    def get(self, session_id: str) -> SessionRecord | None:
        snapshot = self.read(session_id)
        return snapshot.record if snapshot else None

    def move(self, session_id: str, expect: SessionState, to: SessionState, *,
             fields: Mapping[str, Any] | None = None, attempt_cap: int = 0,
             only_without_heartbeat: bool = False, payload: str = "", payload_ttl: float = 0,
             push: str = "", push_ttl: float = 0) -> Moved:
        """Move ``expect`` → ``to`` in one step if the session is still ``expect``.

        With ``payload``, the payload is stored in the same step; reaching a
        terminal state drops any payload; ``push`` goes onto the code list."""
        keys = self._keys(session_id, KeyKind.SESSION, KeyKind.PAYLOAD, KeyKind.LIVE,
                          KeyKind.HEARTBEAT, KeyKind.CODE, KeyKind.METRICS)
        changes = as_fields({**(fields or {}), "updated_at": self.now()})
        pairs = [item for pair in changes.items() for item in pair]
        status, found = self._move(keys=keys, args=[
            expect.value, to.value, int(to.terminal), defaults.RECORD_GRACE, attempt_cap,
            int(only_without_heartbeat), payload, max(1, math.ceil(payload_ttl)), push,
            max(1, math.ceil(push_ttl)), session_id, changes.get("error_code", ""),
            defaults.METRICS_TTL, *pairs])
        current = SessionState(found) if found else None
        return Moved(status == 1, current, over_cap=status == -1)

    def claim(self, session_id: str) -> str | None:
        """The payload once, moving ``ready`` → ``claimed``; else ``None``."""
        keys = self._keys(session_id, KeyKind.SESSION, KeyKind.PAYLOAD, KeyKind.LIVE,
                          KeyKind.METRICS)
        value = self._claim(keys=keys, args=[SessionState.READY.value,
                                             SessionState.CLAIMED.value, self.now(),
                                             defaults.RECORD_GRACE, session_id,
                                             defaults.METRICS_TTL])
        return value or None

    def take(self, session_id: str, owner: str, heartbeat_ttl: int) -> bool:
        """True if ``owner`` now owns the ``starting`` session (nobody did before).
        The first heartbeat is written in the same step."""
        keys = self._keys(session_id, KeyKind.SESSION, KeyKind.HEARTBEAT)
        return bool(self._take(keys=keys, args=[owner, heartbeat_ttl,
                                                SessionState.STARTING.value]))

    # -- code hand-off ---------------------------------------------------------
    def wait_code(self, session_id: str, timeout: float) -> str | None:
        """Block up to ``timeout`` s for the next code (or :data:`WAKE`)."""
        item = self.redis.blpop([self.key(KeyKind.CODE, session_id)], timeout=timeout)
        return None if item is None else item[1]

    def wake(self, session_id: str) -> None:
        """Wake the owning worker's wait for a code at once (it re-reads the session)."""
        key = self.key(KeyKind.CODE, session_id)
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, WAKE)
            pipe.expire(key, defaults.CODE_POLL_INTERVAL * 5)
            pipe.execute()

    def drop_codes(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.CODE, session_id))

    # -- liveness ----------------------------------------------------------------
    def beat(self, session_id: str, owner: str, ttl: int) -> None:
        """Renew a heartbeat; never recreates one that was dropped or lapsed."""
        self.redis.set(self.key(KeyKind.HEARTBEAT, session_id), owner, ex=ttl, xx=True)

    def drop_heartbeat(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.HEARTBEAT, session_id))

    def live_session_ids(self) -> set[str]:
        return set(self.redis.zrange(self.key(KeyKind.LIVE), 0, -1))

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

    def count_live(self) -> int:
        return int(self.redis.zcount(self.key(KeyKind.LIVE), self.now(), "+inf"))

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
            pipe.hset(key, owner, f"{capacity}:{self.now() + ttl}")
            pipe.expire(key, ttl)
            pipe.execute()

    def unregister_worker(self, owner: str) -> None:
        self.redis.hdel(self.key(KeyKind.WORKERS), owner)

    def worker_capacity(self) -> tuple[int, int]:
        """(live workers, their summed capacity), from registrations not yet lapsed."""
        now, workers, capacity = self.now(), 0, 0
        for owner, value in self.redis.hgetall(self.key(KeyKind.WORKERS)).items():
            size, _, until = value.partition(":")
            if until.isdigit() and int(until) >= now and size.isdigit():
                workers += 1
                capacity += int(size)
            else:  # a worker that died without unregistering
                self.redis.hdel(self.key(KeyKind.WORKERS), owner)
        return workers, capacity

    # -- observability ---------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """The broker-wide counters the lifecycle steps keep (created, reached,
        ended by state and code), summed over every process."""
        raw = self.redis.hgetall(self.key(KeyKind.METRICS))
        return {name: int(value) for name, value in raw.items()}

    def live_states(self) -> dict[str, int]:
        """How many live sessions are in each state now."""
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

    def ping(self) -> bool:
        return bool(self.redis.ping())
