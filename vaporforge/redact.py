"""Scrub secrets out of any text before it reaches a log, an error or Redis."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9]{2,8}-[A-Za-z0-9_\-]{8,}"),   # OAuth / API tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-]{8,}"),       # Authorization headers
    re.compile(r"(?i)((?:access|refresh)_?token\"?\s*[:=]\s*\"?)[^\s\",}]{8,}"),
    re.compile(r"(?i)(code=)[^\s&#]{4,}"),                         # codes in callback URLs
    re.compile(r"\b[A-Za-z0-9_\-]{16,}#[A-Za-z0-9_\-]{8,}\b"),     # pasted codes: code#state
]
MASK = "[redacted]"


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text)
            record.exc_info = None
        return True
