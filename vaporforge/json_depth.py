"""How deep a JSON text nests, counted before any parser sees it.

Python's ``json`` recurses once per level, and its ``RecursionError`` is no
``ValueError``: the API (``api/bodies.py``) and the Docker socket proxy
(``deploy/socket-proxy/strict_input.py``) both refuse a deep body with this
count first. Pure; brackets inside strings do not count, and an unterminated
string can only make the count larger.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``raw`` nest more than ``limit`` levels."""
    depth = 0
    for bracket in _STRING.sub(b"", raw).translate(None, _NOT_BRACKET):
        if bracket in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
