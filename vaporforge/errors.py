"""One error vocabulary and one error base class for the whole broker.

:class:`ErrorCode` holds every code a client or an operator can see, in an HTTP
error body (``{"error": {"code", "message"}}``) or as a session's ``error.code``.
One code means one thing. Core errors carry no HTTP status: the API maps codes
to statuses in one table (``api.errors.STATUS``). Messages never contain
secrets: callers pass fixed sentences or text already run through
:func:`vaporforge.redact.redact`.

Every :class:`BrokerError` subclass is declared here (the session's own
``SessionNotFound`` and ``AtCapacity`` live with the lifecycle), so callers catch
the base class or a specific class from this module.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum

from vaporforge import defaults


class ErrorCode(StrEnum):
    # Requests the API refuses.
    INVALID_JSON = "invalid_json"
    VALIDATION_ERROR = "validation_error"
    BAD_REQUEST = "bad_request"
    CLIENT_KEY_REQUIRED = "client_key_required"
    INVALID_CLIENT_KEY = "invalid_client_key"
    MODE_NOT_ALLOWED = "mode_not_allowed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_STATE = "invalid_state"
    NOT_READY = "not_ready"
    ALREADY_CLAIMED = "already_claimed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    AT_CAPACITY = "at_capacity"
    STORE_UNAVAILABLE = "store_unavailable"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"
    HTTP_ERROR = "http_error"
    # Host-authorised logins (tickets, grants).
    UNAUTHORIZED = "unauthorized"
    TICKET_REQUIRED = "ticket_required"
    TICKET_INVALID = "ticket_invalid"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    GRANT_REQUIRED = "grant_required"
    GRANT_INVALID = "grant_invalid"
    GRANT_REVOKED = "grant_revoked"
    GRANT_REUSED = "grant_reused"
    SCOPE_NOT_ALLOWED = "scope_not_allowed"
    # The refresh relay.
    REFRESH_REJECTED = "refresh_rejected"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    # Why a session ended (its ``error.code``); ``expired`` is also a claim's 410.
    INVALID_CODE = "invalid_code"
    CLI_EXITED = "cli_exited"
    CLI_NOT_FOUND = "cli_not_found"
    URL_NOT_FOUND = "url_not_found"
    EXCHANGE_FAILED = "exchange_failed"
    TIMEOUT = "timeout"
    WORKER_LOST = "worker_lost"
    WORKER_SHUTDOWN = "worker_shutdown"
    NOT_STARTED = "not_started"
    RUNTIME_ERROR = "runtime_error"
    EXPIRED = "expired"
    CREDENTIALS_EXPIRED = "credentials_expired"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    ABANDONED = "abandoned"
    # Operators only: the process refuses to start.
    CONFIG_ERROR = "config_error"


class BrokerError(Exception):
    """Base class; catch this to catch every broker error."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    message: str = "Something went wrong on our side."
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None, *, code: ErrorCode | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = ErrorCode(code)
        super().__init__(self.message)


class LoginFailed(BrokerError):
    """The login could not finish; ``code`` becomes the session's ``error.code``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message, code=code)


class SessionEnded(BrokerError):
    """The session ended elsewhere (cancel, expiry) while its worker waited on the
    CLI: there is nothing left to record, only the CLI to stop."""

    message = "The session ended while its CLI was busy."


class ConfigError(BrokerError):
    """A setting is invalid; the process does not start."""

    code = ErrorCode.CONFIG_ERROR


class ModeNotAllowed(BrokerError):
    """A creation in a mode this deployment does not offer (VF_MODES)."""

    code = ErrorCode.MODE_NOT_ALLOWED


class InvalidClientKey(BrokerError):
    code = ErrorCode.INVALID_CLIENT_KEY
    message = "client_public_key must be a public EC P-256 key as a JWK."


class RefreshRejected(BrokerError):
    code = ErrorCode.REFRESH_REJECTED
    message = ("The sign-in service refused this refresh token (it was used already, revoked "
               "or expired). Sign in again.")


class UpstreamUnavailable(BrokerError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE
    message = ("The sign-in service could not be reached or did not answer properly. "
               "Try again in a moment.")


class RateLimited(BrokerError):
    """``limit`` (its text names the rate, e.g. ``30 per 1 minute``) is spent
    until ``reset_at`` (epoch seconds): the answer says when to try again."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, limit: object, reset_at: float) -> None:
        super().__init__(f"Too many requests: at most {limit}; try again later.")
        self.headers = {"Retry-After": str(max(1, math.ceil(reset_at - time.time())))}


class RuntimeFailure(BrokerError):
    """A runtime could not start, spawn, read or stop."""

    code = ErrorCode.RUNTIME_ERROR


class SessionNotFound(BrokerError):
    code = ErrorCode.NOT_FOUND
    message = "No such session, or the session token does not match."


class TooManyAttempts(BrokerError):
    """The code cap was reached; the session has ended."""

    code = ErrorCode.TOO_MANY_ATTEMPTS


class InvalidState(BrokerError):
    """The session is not in a state that allows this action."""

    code = ErrorCode.INVALID_STATE


class AlreadyClaimed(BrokerError):
    code = ErrorCode.ALREADY_CLAIMED
    message = "The credentials were already handed out."


class SessionExpired(BrokerError):
    code = ErrorCode.EXPIRED
    message = "The login session expired."


class NotReady(BrokerError):
    code = ErrorCode.NOT_READY
    message = "The credentials are not ready yet."


class ClientKeyRequired(BrokerError):
    code = ErrorCode.CLIENT_KEY_REQUIRED


class AtCapacity(BrokerError):
    code = ErrorCode.AT_CAPACITY
    message = "The broker is running as many logins as it can; try again shortly."
    headers = {"Retry-After": str(defaults.AT_CAPACITY_RETRY_AFTER)}


class QueueUnreachable(BrokerError):
    """The task queue refused the login's task; the API raises it for the
    lifecycle, which ends the session ``unavailable``."""

    code = ErrorCode.UNAVAILABLE
    message = "The login queue is not reachable; try again shortly."


class GrantRequired(BrokerError):
    code = ErrorCode.GRANT_REQUIRED
    message = ("This broker relays refreshes only with the refresh_grant its login answered: "
               "send it as Authorization: Bearer <refresh_grant>.")


class GrantInvalid(BrokerError):
    code = ErrorCode.GRANT_INVALID
    message = ("The refresh grant is not valid for this refresh token (bad, expired, from "
               "another broker, or for another token). Sign in again.")


class GrantRevoked(BrokerError):
    code = ErrorCode.GRANT_REVOKED
    message = ("This refresh grant was revoked: the host app disconnected the user, a copy of "
               "the grant was used, or the broker lost its record of revocations. Connect again.")


class GrantReused(BrokerError):
    code = ErrorCode.GRANT_REUSED
    message = ("This refresh grant was already used, so a copy of it exists elsewhere; every "
               "grant of this sign-in is now refused. Connect again.")


class ScopeNotAllowed(BrokerError):
    code = ErrorCode.SCOPE_NOT_ALLOWED
    message = "The scope asked for goes beyond what this login was granted."


class TicketRequired(BrokerError):
    code = ErrorCode.TICKET_REQUIRED
    message = ("This broker starts logins only with a connect ticket from the host app: "
               "send it as Authorization: Bearer <ticket>.")


class TicketInvalid(BrokerError):
    code = ErrorCode.TICKET_INVALID
    message = "The connect ticket is unknown, expired or used; ask the host app for a new one."


class OriginNotAllowed(BrokerError):
    code = ErrorCode.ORIGIN_NOT_ALLOWED
    message = "The connect ticket was minted for another web origin."


class Unauthorized(BrokerError):
    code = ErrorCode.UNAUTHORIZED
    message = "Send a valid host key as Authorization: Bearer <host key>."
