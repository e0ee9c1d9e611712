"""SessionStore: every Redis read and write of the session state.

Contract: every key written here has a TTL; state changes go through
:func:`vaporforge.states.transition` under WATCH so two processes can never
both move one session; the credential payload is handed out at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import redis

from vaporforge import defaults
from vaporforge.errors import BrokerError
from vaporforge.keys import KeyKind, key_for
from vaporforge.states import (
    Event,
    InvalidTransition,
    LoginMode,
    SessionState,
    implied_event,
    transition,
)

WAKE = "\x00wake"
"""Pushed onto the code list to wake the owning worker (cancel) without a code."""

_CLAIM = """
if redis.call('HGET', KEYS[1], 'state') ~= 'ready' then return false end
local payload = redis.call('GETDEL', KEYS[2])
if not payload then return false end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'updated_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[3])
return payload
"""

_OWN = """
if redis.call('HSETNX', KEYS[1], 'owner', ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""

_COUNT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""


def _as_text(values: dict[str, Any]) -> dict[str, str]:
    """Hash fields as Redis stores them: enums by value, everything else str()."""
    return {k: str(v.value if isinstance(v, Enum) else v) for k, v in values.items()}


class SessionNotFound(BrokerError):
    code = "not_found"
    status = 404
    message = "No such session, or the session token does not match."


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

    def to_hash(self) -> dict[str, str]:
        out = _as_text(asdict(self))
        if not self.owner:
            del out["owner"]  # set once, by the worker that takes the session (HSETNX)
        return out

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> SessionRecord:
        return cls(
            session_id=data["session_id"], mode=LoginMode(data["mode"]),
            state=SessionState(data["state"]), token_hash=data["token_hash"],
            created_at=int(data["created_at"]), expires_at=int(data["expires_at"]),
            oauth_url=data.get("oauth_url", ""), error_code=data.get("error_code", ""),
            error_message=data.get("error_message", ""), owner=data.get("owner", ""),
            attempts=int(data.get("attempts", 0) or 0),
            updated_at=int(data.get("updated_at", 0) or 0),
            client_key=data.get("client_key", ""),
        )


class SessionStore:
    """All session state in Redis. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, prefix: str = defaults.KEY_PREFIX,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = client
        self.prefix = prefix
        self.clock = clock
        self._claim = client.register_script(_CLAIM)
        self._own = client.register_script(_OWN)
        self._count = client.register_script(_COUNT)

    def key(self, kind: KeyKind, session_id: str = "") -> str:
        return key_for(self.prefix, kind, session_id)

    def now(self) -> int:
        return int(self.clock())

    # -- records --------------------------------------------------------------
    def create(self, record: SessionRecord) -> None:
        key = self.key(KeyKind.SESSION, record.session_id)
        live = self.key(KeyKind.LIVE)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=record.to_hash())
            pipe.expireat(key, record.expires_at + defaults.RECORD_GRACE)
            pipe.zadd(live, {record.session_id: record.expires_at})
            pipe.expireat(live, record.expires_at + defaults.RECORD_GRACE, gt=True)
            pipe.expireat(live, record.expires_at + defaults.RECORD_GRACE, nx=True)
            pipe.execute()

    def get(self, session_id: str) -> SessionRecord | None:
        data = self.redis.hgetall(self.key(KeyKind.SESSION, session_id))
        if not data or "state" not in data:
            return None
        return SessionRecord.from_hash(data)

    def transition(self, session_id: str, event: Event, **changes: Any) -> SessionRecord:
        """Apply ``event`` atomically; raises InvalidTransition or SessionNotFound."""
        key = self.key(KeyKind.SESSION, session_id)
        result: list[SessionRecord] = []

        def apply(pipe: redis.client.Pipeline) -> None:
            data = pipe.hgetall(key)
            if not data or "state" not in data:
                raise SessionNotFound()
            current = SessionRecord.from_hash(data)
            new_state = transition(current.state, event)
            fields = _as_text(changes)
            fields.update(state=new_state.value, updated_at=str(self.now()))
            pipe.multi()
            pipe.hset(key, mapping=fields)
            if new_state.terminal:
                pipe.expire(key, defaults.RECORD_GRACE)
                pipe.zrem(self.key(KeyKind.LIVE), session_id)
            result.append(SessionRecord.from_hash({**data, **fields}))

        self.redis.transaction(apply, key)
        return result[-1]

    def take_ownership(self, session_id: str, owner: str, heartbeat_ttl: int) -> bool:
        """True if ``owner`` now owns the session (and nobody did before). The
        first heartbeat is written in the same step, so no observer ever sees an
        owned session without one."""
        keys = [self.key(KeyKind.SESSION, session_id), self.key(KeyKind.HEARTBEAT, session_id)]
        return bool(self._own(keys=keys, args=[owner, heartbeat_ttl]))

    def increment_attempts(self, session_id: str) -> int:
        """The session's code count after this one; 0 if the record is gone (never
        recreating it as a hash without a TTL)."""
        return int(self._count(keys=[self.key(KeyKind.SESSION, session_id)]))

    # -- code hand-off ----------------------------------------------------------
    def push_code(self, session_id: str, code: str, ttl: int) -> None:
        key = self.key(KeyKind.CODE, session_id)
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, code)
            pipe.expire(key, max(1, ttl))
            pipe.execute()

    def wake(self, session_id: str) -> None:
        self.push_code(session_id, WAKE, defaults.CODE_POLL_INTERVAL * 5)

    def wait_code(self, session_id: str, timeout: float) -> str | None:
        """Block up to ``timeout`` s for the next code (or :data:`WAKE`)."""
        item = self.redis.blpop([self.key(KeyKind.CODE, session_id)], timeout=timeout)
        return None if item is None else item[1]

    def drop_codes(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.CODE, session_id))

    # -- liveness ------------------------------------------------------------------
    def beat(self, session_id: str, owner: str, ttl: int) -> None:
        self.redis.set(self.key(KeyKind.HEARTBEAT, session_id), owner, ex=ttl)

    def heartbeat_alive(self, session_id: str) -> bool:
        return bool(self.redis.exists(self.key(KeyKind.HEARTBEAT, session_id)))

    def drop_heartbeat(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.HEARTBEAT, session_id))

    def live_session_ids(self) -> set[str]:
        return set(self.redis.zrange(self.key(KeyKind.LIVE), 0, -1))

    def forget_live(self, session_id: str) -> None:
        self.redis.zrem(self.key(KeyKind.LIVE), session_id)

    def count_live(self) -> int:
        return int(self.redis.zcount(self.key(KeyKind.LIVE), self.now(), "+inf"))

    # -- credential payload ----------------------------------------------------
    def put_payload(self, session_id: str, payload: str, ttl: int) -> None:
        self.redis.set(self.key(KeyKind.PAYLOAD, session_id), payload, ex=ttl)

    def payload_present(self, session_id: str) -> bool:
        return bool(self.redis.exists(self.key(KeyKind.PAYLOAD, session_id)))

    def claim_payload(self, session_id: str) -> str | None:
        """The payload once, moving the session to ``claimed``; else ``None``."""
        keys = [self.key(KeyKind.SESSION, session_id), self.key(KeyKind.PAYLOAD, session_id),
                self.key(KeyKind.LIVE)]
        value = self._claim(keys=keys, args=[self.now(), defaults.RECORD_GRACE, session_id])
        return value or None

    def drop_payload(self, session_id: str) -> None:
        self.redis.delete(self.key(KeyKind.PAYLOAD, session_id))

    def report_cli_version(self, runtime: str, version: str) -> None:
        self.redis.set(self.key(KeyKind.CLI_VERSION, runtime), version,
                       ex=defaults.CLI_VERSION_TTL)

    def cli_versions(self) -> dict[str, str]:
        found = {}
        for runtime in ("local", "docker"):
            version = self.redis.get(self.key(KeyKind.CLI_VERSION, runtime))
            if version:
                found[runtime] = version
        return found

    def settle(self, session_id: str) -> SessionRecord | None:
        """Record what a session's silent owner can no longer say (expiry, a lost
        worker, a lapsed payload) and return the session as it now stands."""
        record = self.get(session_id)
        if record is None:
            self.forget_live(session_id)
            return None
        implied = implied_event(
            record.state, now=self.now(), expires_at=record.expires_at,
            owned=bool(record.owner), heartbeat_alive=self.heartbeat_alive(session_id),
            payload_present=self.payload_present(session_id))
        if implied is None:
            return record
        event, code, message = implied
        return self.end(session_id, event, code, message) or self.get(session_id)

    def end(self, session_id: str, event: Event, code: str = "",
            message: str = "") -> SessionRecord | None:
        """End a session from outside its worker: move it to the terminal state of
        ``event``, drop any payload and wake the owning worker so it stops the
        CLI. Returns None when the session had already ended (or is gone)."""
        try:
            record = self.transition(session_id, event, error_code=code,
                                     error_message=message)
        except (InvalidTransition, SessionNotFound):
            record = None
        self.drop_payload(session_id)
        self.wake(session_id)
        return record

    # -- admission -----------------------------------------------------------------
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
            else:
                self.redis.hdel(self.key(KeyKind.WORKERS), owner)
        return workers, capacity

    def ping(self) -> bool:
        return bool(self.redis.ping())
