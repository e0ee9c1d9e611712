"""Revocations and grant families: which refresh grants the relay still honours.

Two records, both in the store, both kept ``VF_GRANT_TTL`` seconds (the longest
a grant they cover can live):

- **Revocations**, one hash per host user (:func:`vaporforge.access.user_digest`):
  the store's time of the user's last revocation (field ``*``) and of each
  revoked login (``sid:<session id>``). A grant issued at or before it is refused.
- **Families** (RFC 9700 §4.14), one key per family (its id's SHA-256): the id
  of the family's current grant. Each relayed refresh makes the grant it answers
  the current one; a grant of the family that is not current was rotated
  already, so a copy exists: it is refused and the whole family revoked.

When the store loses what it held (flushed, replaced, a failover without the
data) the relay fails closed: the first check after the loss starts a new
*epoch* (a key holding its start time), and every grant issued before it is
refused as revoked; every user signs in once more. A lost family record alone
(the epoch still there) fails open: the grant is accepted and recording starts
again (the caller writes that to the audit log).

Contract: :meth:`Revocations.admit` decides in one atomic step (``admit.lua``),
before any upstream call and before any budget is spent; no secret and no host
user id appears in a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis

from vaporforge.access import digest, user_digest
from vaporforge.grants import Grant
from vaporforge.keys import KeyKind, key_for
from vaporforge.session.scripts import Script

ALL = "*"
"""The revocation field that covers every login of the user."""


class Verdict(StrEnum):
    ADMITTED = "admitted"
    REVOKED = "revoked"
    REUSED = "reused"


@dataclass(frozen=True)
class Admission:
    """What :meth:`Revocations.admit` decided. ``why`` says which revocation
    refused (``epoch``, ``user``, ``login``, ``family``); when admitted,
    ``issued_ms`` is the issue time for the next grant (the store's clock at
    the check, so a revocation that lands later covers it) and ``started``
    says the family had no record."""

    verdict: Verdict
    why: str = ""
    issued_ms: int = 0
    started: bool = False


def field_for(session_id: str = "") -> str:
    return f"sid:{session_id}" if session_id else ALL


class Revocations:
    def __init__(self, client: redis.Redis, prefix: str, ttl: int) -> None:
        self.redis: Any = client
        self.prefix = prefix
        self.ttl = ttl
        self._admit = Script(client, "admit")
        self._rewind = Script(client, "rewind")
        self._revoke = Script(client, "revoke")

    def _family_key(self, family: str) -> str:
        return key_for(self.prefix, KeyKind.FAMILY, digest(family))

    def _revoked_key(self, host: str, end_user: str) -> str:
        return key_for(self.prefix, KeyKind.REVOKED, user_digest(host, end_user))

    def start_epoch(self) -> None:
        """Start the epoch now unless one runs (the API does at start, so the
        grants issued after it are not refused by the first check)."""
        seconds, micros = self.redis.time()
        self.redis.set(key_for(self.prefix, KeyKind.EPOCH), seconds * 1000 + micros // 1000,
                       nx=True, ex=self.ttl)

    def revoke(self, host: str, end_user: str, session_id: str = "") -> int:
        """Refuse every grant of ``host``'s ``end_user`` issued until now (only
        those of login ``session_id`` when given); returns the store's time (ms)."""
        return int(self._revoke(
            keys={"epoch": key_for(self.prefix, KeyKind.EPOCH),
                  "revoked": self._revoked_key(host, end_user)},
            argv={"field": field_for(session_id), "ttl": self.ttl}))

    def admit(self, grant: Grant, next_id: str) -> Admission:
        """Check ``grant`` and, when admitted, make ``next_id`` its family's current."""
        answer = self._admit(
            keys={"epoch": key_for(self.prefix, KeyKind.EPOCH),
                  "revoked": self._revoked_key(grant.host, grant.end_user),
                  "family": self._family_key(grant.family)},
            argv={"issued_ms": grant.issued_ms, "session_id": grant.session_id,
                  "grant_id": grant.grant_id, "next_id": next_id, "ttl": self.ttl})
        verdict = Verdict(answer[0])
        if verdict is not Verdict.ADMITTED:
            return Admission(verdict, str(answer[1]))
        return Admission(verdict, issued_ms=int(answer[1]), started=str(answer[2]) == "1")

    def rewind(self, grant: Grant, next_id: str) -> bool:
        """``next_id`` was never handed out: ``grant`` is the family's current again
        (unless the family changed meanwhile)."""
        return bool(self._rewind(keys={"family": self._family_key(grant.family)},
                                 argv={"next_id": next_id, "grant_id": grant.grant_id,
                                       "ttl": self.ttl}))
