"""Every error leaves the API as ``{"error": {"code", "message"}}`` JSON."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException

from api.schemas import ErrorSchema
from vaporforge.errors import BrokerError

log = logging.getLogger("vaporforge.api")

# Werkzeug's HTTP errors, under codes that do not change with its wording.
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 410: "gone",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}
HTTP_MESSAGES = {
    404: "No such resource.",
    405: "This method is not allowed here.",
    413: "The request body is larger than the limit.",
    415: "Send the request body as application/json.",
    500: "Something went wrong on our side.",
}


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
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

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
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
            return error_response(400, "validation_error", text)
        message = HTTP_MESSAGES.get(status) or error.description or "Request failed."
        # Keep what the exception says about itself (Allow on 405, Retry-After on 429).
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return error_response(status, HTTP_CODES.get(status, "http_error"), message, headers)


def register(app: Flask) -> None:
    @app.errorhandler(BrokerError)
    def _broker_error(error: BrokerError) -> Response:
        headers = getattr(error, "headers", None)
        return error_response(error.status, error.code, error.message, headers)
