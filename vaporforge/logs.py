"""Log lines: JSON (python-json-logger) or text, each with the ``session_id`` of
the login it belongs to, and every secret redacted.

A login binds its session id once (:func:`bound_session`); every line logged in
that context carries it, whichever module logs it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from pythonjsonlogger.json import JsonFormatter

from vaporforge.redact import RedactingFilter

_SESSION: contextvars.ContextVar[str] = contextvars.ContextVar("vf_session_id", default="")
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(name)s] %(session_id)s %(message)s"


@contextlib.contextmanager
def bound_session(session_id: str) -> Iterator[None]:
    token = _SESSION.set(session_id)
    try:
        yield
    finally:
        _SESSION.reset(token)


class SessionFilter(logging.Filter):
    """Puts the bound session id on every record (empty outside a login)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "session_id", ""):
            record.session_id = _SESSION.get()
        return True


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields={"levelname": "level",
                                                         "asctime": "time", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure(log_format: str, logger: logging.Logger | None = None) -> None:
    """Give every handler of ``logger`` (default: root; one is added if it has
    none) the format, the session id and redaction. Idempotent."""
    target = logger or logging.getLogger()
    if not target.handlers:
        target.addHandler(logging.StreamHandler())
        if target.level == logging.NOTSET or target.level > logging.INFO:
            target.setLevel(logging.INFO)
    for handler in target.handlers:
        handler.setFormatter(formatter(log_format))
        for kind in (SessionFilter, RedactingFilter):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())
