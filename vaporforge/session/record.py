"""The session record and the typed results of the store's steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from vaporforge.session.states import LoginMode, SessionState


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
class WindowCounter:
    """A fixed-window counter a read steps for the session's token holder:
    ``key`` (see :func:`vaporforge.keys.rate_count_key`), kept for ``window``
    seconds from its first step."""

    key: str
    window: int


# -- what each step did (lua/<step>.lua) --------------------------------------------
@dataclass(frozen=True)
class Created:
    """create.lua: ``created``, or refused at capacity."""

    created: bool


@dataclass(frozen=True)
class Bound:
    """bind_warm.lua: the warm entry ``place_id`` the session took, its CLI
    showing ``oauth_url`` (both empty: none was offered, or the session was no
    longer ``starting``)."""

    place_id: str = ""
    oauth_url: str = ""


@dataclass(frozen=True)
class Snapshot:
    """read.lua: a session as one atomic read saw it."""

    record: SessionRecord
    heartbeat_alive: bool
    payload_present: bool
    hits: int = 0
    """The counter's value after this read's step (0: not counted)."""


@dataclass(frozen=True)
class Moved:
    """move.lua: ``applied``, or the state it found instead (``None``: the record
    is gone); ``over_cap`` when the attempt cap refused the move."""

    applied: bool
    state: SessionState | None
    over_cap: bool = False


@dataclass(frozen=True)
class Claimed:
    """claim.lua: the payload, handed out this once (``None``: not given)."""

    payload: str | None


@dataclass(frozen=True)
class Taken:
    """take.lua: ``taken`` when the caller now owns the session."""

    taken: bool


@dataclass(frozen=True)
class Withdrawn:
    """withdraw.lua: ``withdrawn``, or False when a session bound the entry first."""

    withdrawn: bool
