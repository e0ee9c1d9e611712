"""Refresh grants: the broker's signed word that a refresh token came from one of its logins.

A grant is a compact JWS (a JWT, HS256, joserfc) signed with the first of
``VF_GRANT_KEYS`` and checked against all of them (key rotation). It binds the
host, the host's ``end_user``, the login mode, the login's scopes, the SHA-256
of the refresh token it was issued with, the session it came from and an expiry
(``VF_GRANT_TTL``). The browser keeps it opaque and sends it with the refresh
token; the relay answers a new one for the rotated refresh token.

Each grant also names its *family* (a random id a claim's grant starts and every
refresh's grant keeps), its own random id, its place in the family (0 for the
claim's) and when it was issued in milliseconds: the relay's revocation and
reuse checks (:mod:`vaporforge.revocations`) read those.

Contract:
- :func:`issue` never sees a secret it would keep: only the refresh token's hash
  goes into the grant.
- :func:`check` returns the claims of a well-signed, unexpired grant whose
  refresh-token hash matches the token sent, else raises :class:`GrantInvalid`
  (one answer for a bad signature, an expired grant, a foreign key or a
  mismatch, so the answer says nothing about which).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from vaporforge.access import digest
from vaporforge.errors import (
    GrantInvalid,
    ScopeNotAllowed,
)
from vaporforge.refresh import DEFAULT_SCOPE

MIN_KEY_BYTES = 32
ALGORITHM = "HS256"
TYPE = "vf-refresh-grant"
MAX_GRANT_CHARS = 4096


@dataclass(frozen=True)
class Grant:
    """What a grant says. ``family``, ``grant_id`` and ``issued_ms`` left empty are
    chosen by :func:`issue` (a new family, a new id, the time of issue)."""

    host: str
    end_user: str
    mode: str
    scopes: tuple[str, ...]
    session_id: str = ""
    family: str = ""
    grant_id: str = ""
    issued_ms: int = 0
    generation: int = 0


def new_id() -> str:
    """A random family or grant id (128 bits)."""
    return secrets.token_urlsafe(16)


def parse_grant_keys(raw: str) -> tuple[bytes, ...]:
    """``VF_GRANT_KEYS`` → keys; raises ValueError naming the entry's position."""
    keys = []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        try:
            key = base64.urlsafe_b64decode(entry + "=" * (-len(entry) % 4))
        except (binascii.Error, ValueError):
            key = b""
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"VF_GRANT_KEYS entry {position} must be at least {MIN_KEY_BYTES} "
                             "random bytes in base64url (e.g. `python -c \"import secrets; "
                             "print(secrets.token_urlsafe(32))\"`)")
        keys.append(key)
    return tuple(keys)


def issue(keys: Sequence[bytes], grant: Grant, refresh_token: str, ttl: int,
          now: float | None = None) -> str:
    """A grant for ``refresh_token``, signed with the first key."""
    moment = time.time() if now is None else now
    issued = int(moment)
    claims = {"host": grant.host, "sub": grant.end_user, "mode": grant.mode,
              "scope": " ".join(grant.scopes), "rth": digest(refresh_token),
              "sid": grant.session_id, "iat": issued, "exp": issued + ttl,
              "fam": grant.family or new_id(), "jti": grant.grant_id or new_id(),
              "ims": grant.issued_ms or int(moment * 1000), "gen": grant.generation}
    return jwt.encode({"alg": ALGORITHM, "typ": TYPE}, claims, OctKey.import_key(keys[0]),
                      algorithms=[ALGORITHM])


def check(keys: Sequence[bytes], value: str, refresh_token: str,
          hosts: frozenset[str] | None = None) -> Grant:
    """The grant ``value`` stands for, if valid for ``refresh_token``; else GrantInvalid.

    ``hosts``: when given, a grant of a host no longer configured is refused too.
    """
    if not keys or not value or len(value) > MAX_GRANT_CHARS:
        raise GrantInvalid()
    claims = None
    for key in keys:
        try:
            token = jwt.decode(value, OctKey.import_key(key), algorithms=[ALGORITHM])
        except (JoseError, ValueError):
            continue
        if token.header.get("typ") == TYPE:
            claims = token.claims
            break
    if claims is None:
        raise GrantInvalid()
    try:
        JWTClaimsRegistry(exp={"essential": True}).validate(claims)
    except JoseError:
        raise GrantInvalid() from None
    fields = [claims.get(name) for name in ("host", "sub", "mode", "scope", "rth")]
    if not all(isinstance(v, str) for v in fields):
        raise GrantInvalid()
    host, end_user, mode, scope, rth = (str(v) for v in fields)
    if not hmac.compare_digest(rth, digest(refresh_token)):
        raise GrantInvalid()
    if hosts is not None and host not in hosts:
        raise GrantInvalid()
    sid = claims.get("sid")
    family, grant_id, issued_ms, generation = (claims.get(n) for n in ("fam", "jti", "ims", "gen"))
    # A grant from before families were kept has none: it is not one of ours any more.
    if not (isinstance(family, str) and family and isinstance(grant_id, str) and grant_id
            and type(issued_ms) is int and type(generation) is int):
        raise GrantInvalid()
    return Grant(host, end_user, mode, tuple(scope.split()), sid if isinstance(sid, str) else "",
                 family, grant_id, issued_ms, generation)


def for_login(keys: Sequence[bytes], ttl: int, grant: Grant,
              credentials: Mapping[str, Any]) -> str | None:
    """The claim's ``refresh_grant`` for the credentials a login produced: for
    ``oauth``/``console`` credentials with a refresh token, bound to their scopes
    (the CLI's default scopes when the file names none); None otherwise (no
    grant keys, ``setup-token``, an API key only)."""
    oauth = credentials.get("claudeAiOauth") if isinstance(credentials, Mapping) else None
    if not keys or not isinstance(oauth, Mapping):
        return None
    refresh_token = oauth.get("refreshToken")
    if not isinstance(refresh_token, str) or not refresh_token:
        return None
    scopes = oauth.get("scopes")
    if not (isinstance(scopes, list) and scopes and all(isinstance(x, str) for x in scopes)):
        scopes = DEFAULT_SCOPE.split()
    return issue(keys, replace(grant, scopes=tuple(scopes)), refresh_token, ttl)


def allowed_scope(grant: Grant, asked: str | None) -> str:
    """The scope to ask upstream: ``asked`` if within the grant's, the grant's own
    when none is asked; ScopeNotAllowed beyond it."""
    if not asked:
        return " ".join(grant.scopes)
    if not set(asked.split()) <= set(grant.scopes):
        raise ScopeNotAllowed()
    return asked
