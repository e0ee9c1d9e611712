"""Checking a VaporForge webhook: the signature, its age, and repeats.

``VaporForge-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
over the raw body as received. Self-contained on purpose: a host app copies it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "VaporForge-Signature"
TOLERANCE = 300  # seconds; an older (or far future) signature is refused: a replay


def verify(secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE,
           now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds.

    Compared in constant time; any ``v1`` may match (the broker may send several
    while its secret rotates).
    """
    fields = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for name, value in fields if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode("utf-8"), stamps[0].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    matches = [hmac.compare_digest(expected, value) for name, value in fields if name == "v1"]
    return any(matches)
