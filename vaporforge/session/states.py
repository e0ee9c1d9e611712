"""Session states, the events that move them, and the one pure function that
applies an event (:func:`transition`). Every step of the store, Lua included,
gets its from/to states from this table."""

from __future__ import annotations

from enum import StrEnum

from vaporforge.errors import ErrorCode


class SessionState(StrEnum):
    STARTING = "starting"
    AWAITING_CODE = "awaiting_code"
    VERIFYING = "verifying"
    READY = "ready"
    CLAIMED = "claimed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def cli_running(self) -> bool:
        """True while a worker owns a CLI process for this session."""
        return self in (SessionState.STARTING, SessionState.AWAITING_CODE,
                        SessionState.VERIFYING)

    @property
    def shows_url(self) -> bool:
        """True while the session's status shows the CLI's sign-in URL."""
        return self in (SessionState.AWAITING_CODE, SessionState.VERIFYING)


class LoginMode(StrEnum):
    OAUTH = "oauth"
    CONSOLE = "console"
    SETUP_TOKEN = "setup-token"

    @property
    def cli_args(self) -> tuple[str, ...]:
        return {
            LoginMode.OAUTH: ("auth", "login"),
            LoginMode.CONSOLE: ("auth", "login", "--console"),
            LoginMode.SETUP_TOKEN: ("setup-token",),
        }[self]


class Event(StrEnum):
    TAKEN = "taken"            # a worker took the session; it stays starting until the URL
    BOUND = "bound"            # the session took a warm entry whose CLI shows its URL
    URL_PUBLISHED = "url_published"
    CODE_SUBMITTED = "code_submitted"
    CODE_REJECTED = "code_rejected"
    SUCCEEDED = "succeeded"
    CLAIMED = "claimed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL = frozenset({SessionState.CLAIMED, SessionState.FAILED,
                      SessionState.EXPIRED, SessionState.CANCELLED})

S, E = SessionState, Event
_LIVE = (S.STARTING, S.AWAITING_CODE, S.VERIFYING)

TRANSITIONS: dict[tuple[SessionState, Event], SessionState] = {
    (S.STARTING, E.TAKEN): S.STARTING,
    (S.STARTING, E.BOUND): S.AWAITING_CODE,
    (S.STARTING, E.URL_PUBLISHED): S.AWAITING_CODE,
    (S.AWAITING_CODE, E.CODE_SUBMITTED): S.VERIFYING,
    (S.VERIFYING, E.CODE_REJECTED): S.AWAITING_CODE,
    (S.VERIFYING, E.SUCCEEDED): S.READY,
    (S.READY, E.CLAIMED): S.CLAIMED,
    **{(s, E.FAILED): S.FAILED for s in _LIVE},
    **{(s, E.EXPIRED): S.EXPIRED for s in (*_LIVE, S.READY)},
    **{(s, E.CANCELLED): S.CANCELLED for s in (*_LIVE, S.READY)},
}


class InvalidTransition(ValueError):
    """The event does not apply to the session's current state."""

    def __init__(self, state: SessionState, event: Event) -> None:
        super().__init__(f"{event.value} does not apply to a {state.value} session")
        self.state = state
        self.event = event


def transition(state: SessionState, event: Event) -> SessionState:
    """The state after ``event``; raises :class:`InvalidTransition` otherwise."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def implied_event(state: SessionState, *, now: int, expires_at: int, owned: bool,
                  heartbeat_alive: bool, payload_present: bool, start_by: int = 0
                  ) -> tuple[Event, ErrorCode, str] | None:
    """What an observer (the API on a poll, a reaper) must record for a session
    whose owner can no longer say it: ``(event, error_code, message)`` or None.

    - past ``expires_at`` and not yet ended → expired;
    - ``starting``, taken by no worker by ``start_by`` (when set) → not_started;
    - ``ready`` whose payload has lapsed → expired;
    - a live session whose worker took it (``owned``) but stopped beating → worker_lost.
    """
    if state.terminal:
        return None
    if now >= expires_at:
        return Event.EXPIRED, ErrorCode.EXPIRED, "The login session expired."
    if state is SessionState.STARTING and not owned and start_by and now >= start_by:
        return (Event.FAILED, ErrorCode.NOT_STARTED,
                "No worker started this login in time; try again.")
    if state is SessionState.READY and not payload_present:
        return (Event.EXPIRED, ErrorCode.CREDENTIALS_EXPIRED,
                "The credentials were not claimed in time and were discarded.")
    if state.cli_running and owned and not heartbeat_alive:
        return (Event.FAILED, ErrorCode.WORKER_LOST,
                "The worker running this login stopped.")
    return None
