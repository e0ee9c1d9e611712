"""Every Redis key name the broker uses is built here and nowhere else.

Keys hold only the prefix, a kind and the session id (or, for tickets and per-user
keys, a SHA-256 hex digest); never a secret, a host's user id or a ticket.
"""

from __future__ import annotations

from enum import StrEnum


class KeyKind(StrEnum):
    SESSION = "session"      # hash: the session record
    CODE = "code"            # list: code hand-off from any API process to the owning worker
    PAYLOAD = "payload"      # string: the one-time credential payload
    HEARTBEAT = "heartbeat"  # string: the owning worker's liveness
    LIVE = "live"            # sorted set: ids of sessions not yet ended, by expiry
    CLI_VERSION = "cli_version"  # string per runtime name: the CLI's --version, for /readyz
    WORKERS = "workers"      # hash: worker name -> "capacity:expires_at", for admission
    METRICS = "metrics"      # hash: broker-wide counters kept by the lifecycle steps
    WARM = "warm"            # sorted set per mode: warm entry ids by when they were offered
    WARM_ENTRY = "warm_entry"  # hash per warm entry: its CLI's URL, owner worker, mode
    BIND = "bind"            # list per warm entry: the session id that took it
    RATE_COUNT = "limit"     # string per session and request kind: its fixed-window count
    TICKET = "ticket"        # string per SHA-256 of a connect ticket: what it allows
    USER = "user"            # string per SHA-256 of host+end_user: that user's live login
    REVOKED = "revoked"      # hash per SHA-256 of host+end_user: when its grants were revoked
    FAMILY = "family"        # string per SHA-256 of a grant family id: its current grant's id
    EPOCH = "epoch"          # string: when this store's revocation memory began (ms)


GLOBAL_KINDS = frozenset({KeyKind.LIVE, KeyKind.WORKERS, KeyKind.METRICS, KeyKind.EPOCH})
"""Kinds with one key per deployment, not one per session."""


def key_for(prefix: str, kind: KeyKind, session_id: str = "") -> str:
    if kind in GLOBAL_KINDS:
        return f"{prefix}:{kind.value}"
    if not session_id:
        raise ValueError(f"{kind.value} keys need an id")
    if kind is KeyKind.RATE_COUNT:  # in the ``limit`` namespace Flask-Limiter's keys share
        return f"{prefix}:{kind.value}/{session_id}"
    return f"{prefix}:{kind.value}:{session_id}"


def rate_count_key(prefix: str, request_kind: str, session_id: str) -> str:
    """The per-session request counter: ``<prefix>:limit/<kind>/<session id>``.

    Its rule is a fixed window that starts at the first counted request: the
    read step increments it and, on the first increment, sets its TTL to the
    window; the request is refused while the count exceeds the limit, and
    ``Retry-After`` is the key's remaining TTL (see ``session/lua/read.lua``).
    """
    return key_for(prefix, KeyKind.RATE_COUNT, f"{request_kind}/{session_id}")
