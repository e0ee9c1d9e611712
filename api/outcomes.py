"""Counts what the host-facing routes answered, for ``/metrics``.

Tickets (``POST /api/auth/tickets``) are counted as minted or refused by error
code, refresh relays (``POST /api/auth/refresh``) by outcome (``ok`` or the error
code), each with the host the request was for. The counters are broker-wide
(Redis, :meth:`vaporforge.registry.Registry.count`), so every API process adds
to the same numbers.

Contract: the labels are bounded. ``code`` is an :class:`~vaporforge.errors.ErrorCode`
value (anything else is counted as ``other``); ``host`` is a configured host's
name, set by the route once the host is known (a verified host key or grant),
else empty. Never an end user. Counting never changes an answer: a store error
while counting is logged and the response goes out as it was.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, g, request

from api.context import api_context
from vaporforge.errors import ErrorCode
from vaporforge.registry import Registry

log = logging.getLogger("vaporforge.api")

COUNTED = {"tickets.Tickets": ("ticket", 201), "refresh.Refresh": ("refresh", 200)}
"""Endpoint -> (counter kind, the status of a success)."""

_CODES = frozenset(code.value for code in ErrorCode)


def for_host(name: str) -> None:
    """Label this request's count with host ``name`` (a configured host)."""
    g.vf_outcome_host = name


def install(app: Flask) -> None:
    app.after_request(_count)


def counter_name(kind: str, status: int, ok_status: int, code: str, host: str) -> str:
    """The Redis counter field: ``ticket:minted:<host>``, ``ticket:refused:<code>:<host>``,
    ``refresh:<ok|code>:<host>`` (the host last: the collector splits the rest)."""
    code = code if code in _CODES else "other"
    if kind == "ticket":
        return f"ticket:minted:{host}" if status == ok_status else f"ticket:refused:{code}:{host}"
    return f"refresh:{'ok' if status == ok_status else code}:{host}"


def _count(response: Response) -> Response:
    counted = COUNTED.get(request.endpoint or "")
    if counted is None or request.method != "POST":
        return response
    kind, ok_status = counted
    code = ""
    if response.status_code != ok_status and response.is_json:
        body = response.get_json(silent=True) or {}
        error = body.get("error") if isinstance(body, dict) else None
        code = str(error.get("code", "")) if isinstance(error, dict) else ""
    name = counter_name(kind, response.status_code, ok_status, code,
                        str(g.get("vf_outcome_host", "")))
    try:
        Registry.beside(api_context().store).count(name)
    except redis.RedisError as exc:
        log.warning("could not count %s: %s", name, exc)
    return response
