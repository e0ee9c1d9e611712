"""Connect tickets: a host's backend allows one login for one of its users.

A ticket is an opaque random string (``vft_`` + 32 bytes, base64url) the host
mints with its host key and gives the browser; the creation presents it. Redis
holds only its SHA-256 in the key name and what it allows (host, end_user,
modes, origin) as the value, for ``VF_TICKET_TTL`` seconds.

Contract:
- :meth:`Ticket.allows` judges a creation by the ticket and by its host's own
  rules as they stand now (:class:`vaporforge.hosts.Host`): a ticket never allows
  more than its host, even one minted before the host's rules were narrowed;
- :meth:`TicketStore.peek` reads without using the ticket up (checks that can
  be fixed and retried: mode, origin);
- :meth:`TicketStore.take` uses it up atomically (the ``ticket_take`` Lua step:
  read, remaining TTL, delete), so of two concurrent creations exactly one gets it;
- :meth:`TicketStore.give_back` restores a taken ticket with the TTL it had left
  when the creation it was taken for did not succeed (only a ``202`` uses a
  ticket up; the ``ticket_give_back`` step). A ticket that lapsed meanwhile is
  not restored.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from vaporforge.access import digest, origin_allowed
from vaporforge.errors import (
    ModeNotAllowed,
    OriginNotAllowed,
    TicketInvalid,
)
from vaporforge.hosts import Host
from vaporforge.keys import KeyKind, key_for
from vaporforge.session.scripts import Script
from vaporforge.session.states import LoginMode

PREFIX = "vft_"

@dataclass(frozen=True)
class Ticket:
    """What a ticket allows."""

    host: str
    end_user: str
    modes: tuple[LoginMode, ...] = tuple(LoginMode)
    origin: str = ""

    def allows(self, mode: LoginMode, origin: str | None, host: Host) -> None:
        """Raise ModeNotAllowed / OriginNotAllowed unless this creation fits both
        the ticket and ``host``, the ticket's host (its rules first)."""
        host.allows(mode, origin)
        if mode not in self.modes:
            raise ModeNotAllowed(f"The connect ticket allows only "
                                 f"{', '.join(m.value for m in self.modes)} logins.")
        if self.origin and not origin_allowed((self.origin,), origin):
            raise OriginNotAllowed()

    def to_json(self) -> str:
        return json.dumps({"host": self.host, "end_user": self.end_user,
                           "modes": [m.value for m in self.modes], "origin": self.origin})

    @classmethod
    def from_json(cls, raw: str) -> Ticket:
        data: dict[str, Any] = json.loads(raw)
        return cls(data["host"], data["end_user"], tuple(LoginMode(m) for m in data["modes"]),
                   data.get("origin", ""))


@dataclass(frozen=True)
class Taken:
    """A ticket taken for one creation; :meth:`TicketStore.give_back` undoes it."""

    key: str
    raw: str
    ttl_ms: int
    ticket: Ticket
    taken_at: float = 0.0
    """time.monotonic() when it was taken: the TTL it gets back is what was left then."""


def new_ticket(host: str, end_user: str, modes: Iterable[LoginMode] | None = None,
               origin: str = "") -> tuple[str, Ticket]:
    return (PREFIX + secrets.token_urlsafe(32),
            Ticket(host, end_user, tuple(modes) if modes else tuple(LoginMode), origin))


class TicketStore:
    """Tickets in Redis. ``client`` must use ``decode_responses=True``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.redis: Any = client
        self.prefix = prefix
        self._take = Script(client, "ticket_take")
        self._give_back = Script(client, "ticket_give_back")

    def key(self, ticket: str) -> str:
        return key_for(self.prefix, KeyKind.TICKET, digest(ticket))

    def mint(self, host: str, end_user: str, modes: Iterable[LoginMode] | None, origin: str,
             ttl: int) -> tuple[str, int]:
        """A new ticket and its expiry (unix seconds)."""
        value, ticket = new_ticket(host, end_user, modes, origin)
        self.redis.set(self.key(value), ticket.to_json(), ex=ttl)
        return value, int(time.time()) + ttl

    def peek(self, value: str) -> Ticket:
        """What the ticket allows, without using it up; TicketInvalid when unknown."""
        raw = self.redis.get(self.key(value)) if value.startswith(PREFIX) else None
        if raw is None:
            raise TicketInvalid()
        return Ticket.from_json(raw)

    def take(self, value: str) -> Taken:
        """Use the ticket up (atomically); TicketInvalid when another took it first."""
        key = self.key(value)
        found = self._take(keys={"ticket": key}, argv={}) if value.startswith(PREFIX) else None
        if not found:
            raise TicketInvalid()
        raw, left = found
        return Taken(key, raw, int(left), Ticket.from_json(raw), time.monotonic())

    def give_back(self, taken: Taken) -> None:
        """Restore a ticket whose creation failed, with the TTL it had left."""
        left = taken.ttl_ms - int((time.monotonic() - taken.taken_at) * 1000)
        if left > 0:
            self._give_back(keys={"ticket": taken.key}, argv={"value": taken.raw, "ms_left": left})
