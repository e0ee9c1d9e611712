"""Every error leaves the API as ``{"error": {"code", "message"}}`` JSON."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException

from api.schemas import ErrorSchema
from vaporforge import defaults
from vaporforge.errors import BrokerError, ErrorCode

log = logging.getLogger("vaporforge.api")

STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_JSON: 400, ErrorCode.VALIDATION_ERROR: 400, ErrorCode.BAD_REQUEST: 400,
    ErrorCode.CLIENT_KEY_REQUIRED: 400, ErrorCode.INVALID_CLIENT_KEY: 400,
    ErrorCode.REFRESH_REJECTED: 400, ErrorCode.UPSTREAM_UNAVAILABLE: 502,
    ErrorCode.MODE_NOT_ALLOWED: 403, ErrorCode.NOT_FOUND: 404, ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INVALID_STATE: 409, ErrorCode.NOT_READY: 409,
    ErrorCode.ALREADY_CLAIMED: 410, ErrorCode.EXPIRED: 410,
    ErrorCode.PAYLOAD_TOO_LARGE: 413, ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429, ErrorCode.TOO_MANY_ATTEMPTS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.UNAUTHORIZED: 401, ErrorCode.TICKET_REQUIRED: 401, ErrorCode.TICKET_INVALID: 401,
    ErrorCode.GRANT_REQUIRED: 401, ErrorCode.GRANT_INVALID: 401,
    ErrorCode.GRANT_REVOKED: 401, ErrorCode.GRANT_REUSED: 401,
    ErrorCode.ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.SCOPE_NOT_ALLOWED: 403,
    ErrorCode.AT_CAPACITY: 503, ErrorCode.STORE_UNAVAILABLE: 503, ErrorCode.UNAVAILABLE: 503,
}
"""The one table from error code to HTTP status; a code not listed here is 500."""

# Werkzeug's own HTTP errors, under codes that do not change with its wording.
HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST, 404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE, 415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR, 429: ErrorCode.RATE_LIMITED,
    500: ErrorCode.INTERNAL_ERROR, 503: ErrorCode.UNAVAILABLE,
}
HTTP_MESSAGES = {
    404: "No such resource.",
    405: "This method is not allowed here.",
    413: "The request body is larger than the limit.",
    415: "Send the request body as application/json.",
    429: "Too many requests; try again later.",
    500: "Something went wrong on our side.",
}


def error_response(status: int, code: ErrorCode, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code.value, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            name = key if key not in ("json", "_schema") else ""
            out += _flatten(value, f"{prefix}{name}: " if name else prefix)
        return out
    if isinstance(messages, list):
        return [item for value in messages for item in _flatten(value, prefix)]
    return [f"{prefix}{messages}"]


class Api(SmorestApi):
    """flask-smorest's Api with the broker's error body."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        if status >= 500:
            original = getattr(error, "original_exception", None)
            if original is not None:
                log.error("unhandled %s in request", type(original).__name__,
                          exc_info=original)
        messages = data.get("messages") or data.get("errors")
        if messages:
            text = "; ".join(_flatten(messages)) or "The request is not valid."
            return error_response(400, ErrorCode.VALIDATION_ERROR, text)
        message = HTTP_MESSAGES.get(status) or error.description or "Request failed."
        # Keep what the exception says about itself (Allow on 405, Retry-After on 429).
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        limit = getattr(getattr(error, "limit", None), "limit", None)
        if status == 429 and limit is not None:  # Flask-Limiter's, without its headers
            headers.setdefault("Retry-After", str(limit.get_expiry()))
        return error_response(status, HTTP_CODES.get(status, ErrorCode.HTTP_ERROR), message,
                              headers)


def register(app: Flask) -> None:
    @app.errorhandler(BrokerError)
    def _broker_error(error: BrokerError) -> Response:
        return error_response(STATUS.get(error.code, 500), error.code, error.message,
                              error.headers)

    @app.errorhandler(redis.RedisError)
    def _store_unavailable(error: redis.RedisError) -> Response:
        log.warning("Redis does not answer: %s", type(error).__name__)
        return error_response(503, ErrorCode.STORE_UNAVAILABLE,
                              "The session store is not reachable; try again shortly.",
                              {"Retry-After": str(defaults.STORE_RETRY_AFTER)})
