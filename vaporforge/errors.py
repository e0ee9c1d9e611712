"""One error base class for the whole broker.

Every error carries a stable machine ``code`` (snake_case, part of the public
contract) and a human ``message``. Messages never contain secrets: callers pass
fixed sentences or text already run through :func:`vaporforge.redact.redact`.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base class; catch this to catch every broker error."""

    code: str = "internal_error"
    status: int = 500
    message: str = "Something went wrong on our side."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class LoginFailed(BrokerError):
    """The login could not finish; ``code`` is the session's ``error.code``."""

    status = 409

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
