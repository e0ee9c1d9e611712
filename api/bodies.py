"""Request bodies: a JSON object or nothing, read once by one parser within limits.

:func:`require_json_body` runs before every route (``app.before_request``), so
no route, schema or library parser ever meets a body this module refused.
Every method that may carry a body (POST, PUT, PATCH, DELETE) is checked; an
empty body is no body.

- Not ``application/json``: ``415 unsupported_media_type``.
- Not JSON at all (syntax, bytes that are not UTF-8, ``NaN``/``Infinity``), or
  JSON that is not an object: ``400 invalid_json``.
- JSON that no request of this API needs and the code behind it must not meet:
  ``400 validation_error``. That is nesting deeper than :data:`MAX_DEPTH`
  (counted before parsing: a deep body never reaches the recursive parser,
  whose ``RecursionError`` is no ``ValueError``), a number of more than
  :data:`MAX_NUMBER_CHARS` characters or one a float cannot hold (``1e999999``),
  and a string holding half of a UTF-16 surrogate pair (``"\\ud800"``, which no
  UTF-8 text can carry).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Response, request

from api.errors import error_response
from vaporforge.errors import ErrorCode
from vaporforge.json_depth import nests_deeper_than

MAX_DEPTH = 8
"""Arrays and objects nested deeper than this are refused (the API's own bodies nest 2)."""
MAX_NUMBER_CHARS = 40
"""Longer numbers are refused (no field of the API takes a number anywhere near it)."""
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BodyRefused(ValueError):
    """The body is refused with ``code`` (a 400) and ``message``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _out_of_range() -> BodyRefused:
    return BodyRefused(ErrorCode.VALIDATION_ERROR,
                       f"A number in the request body is out of range (at most "
                       f"{MAX_NUMBER_CHARS} characters, and finite).")


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _out_of_range()
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARS or not math.isfinite(value):
        raise _out_of_range()
    return value


def _constant(name: str) -> Any:
    raise BodyRefused(ErrorCode.INVALID_JSON,
                      f"The request body is not valid JSON ({name} is not a JSON value).")


def parse(raw: bytes) -> Any:
    """The JSON value of ``raw``; raises :class:`BodyRefused` (never anything else
    for any input of at most ``MAX_BODY_BYTES``)."""
    if nests_deeper_than(raw, MAX_DEPTH):
        raise BodyRefused(ErrorCode.VALIDATION_ERROR,
                          f"The request body nests arrays or objects deeper than {MAX_DEPTH} "
                          "levels.")
    try:
        text = raw.decode("utf-8")  # strict: no BOM-less UTF-16, no encoded surrogates
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except BodyRefused:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        raise BodyRefused(ErrorCode.INVALID_JSON, "The request body is not valid JSON.") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BodyRefused(ErrorCode.VALIDATION_ERROR,
                              "A string in the request body holds half of a UTF-16 surrogate "
                              "pair (\\ud800-\\udfff alone).") from None
    return value


def require_json_body() -> Response | None:
    """Bodies are JSON objects or absent; anything else is refused up front."""
    if request.method not in METHODS:
        return None
    raw = request.get_data(cache=True)
    if not raw:
        return None
    if not request.is_json:
        return error_response(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                              "Send the request body as application/json.")
    try:
        body = parse(raw)
    except BodyRefused as refused:
        return error_response(400, refused.code, refused.message)
    if not isinstance(body, dict):
        return error_response(400, ErrorCode.INVALID_JSON,
                              "The request body must be a JSON object.")
    return None
