"""One reading of the worker's bytes, and a refusal for anything a second reader
could take another way.

The engine is written in Go: its JSON decoder keeps the first of two duplicate
keys' fields where Python keeps the last, matches keys case-insensitively (with
Unicode folding: the Kelvin sign is a ``k``), and its query parser takes the
first of two repeated parameters where Python takes the last. The proxy never
forwards what it read, but it must not read something the worker did not mean
either: a body or query that two readers could disagree on is refused whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from vaporforge.json_depth import nests_deeper_than

MAX_DEPTH = 16
"""No login container's body nests deeper; deeper is refused before json recurses."""


class Malformed(ValueError):
    """The worker's request cannot be read one way only; the message says why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if not key.isascii():
            raise Malformed(f"the key {key!r} is not ASCII")
        folded = key.lower()
        if folded in seen:
            raise Malformed(f"the key {key!r} appears twice (keys are matched ignoring case)")
        seen.add(folded)
    return dict(pairs)


def _constant(name: str) -> Any:
    raise Malformed(f"{name} is not a JSON number")


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, read strictly: UTF-8, no duplicate or case-twin
    keys at any depth, no non-ASCII keys, no NaN or Infinity, at most
    :data:`MAX_DEPTH` levels. An empty body is ``{}``."""
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if nests_deeper_than(body, MAX_DEPTH):
        raise Malformed(f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except Malformed:
        raise
    except (ValueError, RecursionError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(value, dict):
        raise Malformed("the body is not a JSON object")
    return value


Reader = Callable[[str], str]
"""Checks one query value; returns it as the proxy will send it, or raises Malformed."""


def query(raw: str, allowed: Mapping[str, Reader]) -> dict[str, str]:
    """The query's parameters, each read by its reader in ``allowed``; a parameter
    that is repeated or not in ``allowed`` is refused."""
    found: dict[str, str] = {}
    if not raw:
        return found
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        if ";" in name or (";" in value and name != "filters"):
            raise Malformed("a query may not use ';'")
        if name in found:
            raise Malformed(f"the query parameter {name!r} is repeated")
        if name not in allowed:
            raise Malformed(f"the query parameter {name!r} is not one the worker sends")
        found[name] = allowed[name](value)
    return found


_TRUE = {"1", "true", "yes"}
_FALSE = {"", "0", "false", "no", "none"}


def flag(value: str) -> str:
    """A boolean as the engine reads one, sent on as ``1`` or ``0``."""
    lowered = value.lower()
    if lowered in _TRUE:
        return "1"
    if lowered in _FALSE:
        return "0"
    raise Malformed(f"{value!r} is not a boolean")


def whole(value: str) -> str:
    """A whole number (a minus sign allowed), sent on in its plain form."""
    digits = value[1:] if value.startswith("-") else value
    if not digits.isdigit() or not digits.isascii() or len(digits) > 12:
        raise Malformed(f"{value!r} is not a whole number")
    return str(int(value))


def one_of(*choices: str) -> Reader:
    def read(value: str) -> str:
        if value not in choices:
            raise Malformed(f"{value!r} is not one of {', '.join(choices)}")
        return value
    return read


def anything(value: str) -> str:
    """Read and dropped: the proxy sends its own value instead."""
    return value
