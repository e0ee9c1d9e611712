"""/api/auth/tickets: a host's backend mints a connect ticket for one of its users.

Routes and schemas only: host keys are :mod:`vaporforge.hostkeys`, tickets
:mod:`vaporforge.tickets`. Minting is limited per host (``VF_TICKET_RATE``);
a missing or wrong host key is one answer, ``401 unauthorized``, and counts
against the client network's failed look-ups.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from api.context import api_context
from api.limits import hit_rate, refuse_probe
from api.schemas import ErrorSchema
from vaporforge.access import bearer
from vaporforge.errors import Unauthorized
from vaporforge.hostkeys import verify
from vaporforge.refresh import token_url_allowed
from vaporforge.session.states import LoginMode

blp = Blueprint("tickets", __name__, url_prefix="/api/auth/tickets",
                description="Connect tickets, minted by a host app's backend with its host key")

_MODES = [m.value for m in LoginMode]
MAX_HOST_KEY_CHARS = 256



def origin_of(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, if ``value`` is just an origin
    (https, or http on a loopback address); else None."""
    value = value.strip().rstrip("/")
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.path or parts.query or parts.fragment or not token_url_allowed(value):
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class TicketRequestSchema(Schema):
    class Meta:
        ordered = True

    end_user = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "the host's own id for its user (1-128 printable characters); shown "
                       "back in events, never used in Redis key names"})
    modes = fields.List(fields.String(validate=validate.OneOf(_MODES)),
                        validate=validate.Length(min=1, max=len(_MODES)), metadata={
                            "description": "login modes the ticket allows; default: all"})
    origin = fields.String(validate=validate.Length(max=256), metadata={
        "description": "when given, the creation must carry this Origin header "
                       "(https://host[:port])", "example": "https://app.example"})

    @validates("end_user")
    def _printable(self, value: str, **_: object) -> None:
        if not value.isprintable():
            raise ValidationError("end_user must be printable characters.")

    @validates("origin")
    def _origin(self, value: str, **_: object) -> None:
        if origin_of(value) is None:
            raise ValidationError("origin must be a web origin: https://host[:port] "
                                  "(http only for a loopback address), no path.")


class TicketSchema(Schema):
    class Meta:
        ordered = True

    ticket = fields.String(required=True, metadata={
        "description": "opaque; single use; give it to the browser for one creation "
                       "(Authorization: Bearer <ticket>)"})
    expires_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "UTC, ISO 8601", "example": "2026-01-01T00:00:00Z"})


def authorized_host() -> str:
    """The host whose key the request carries; Unauthorized otherwise."""
    presented = bearer(request.headers.get("Authorization"))
    keys = api_context().settings.host_keys
    host = verify(keys, presented) if 0 < len(presented) <= MAX_HOST_KEY_CHARS else None
    if host is None:
        refuse_probe()
        raise Unauthorized()
    return host


@blp.route("")
class Tickets(MethodView):
    @blp.arguments(TicketRequestSchema, location="json", error_status_code=400)
    @blp.response(201, TicketSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="createTicket", security=[{"hostKey": []}])
    def post(self, args: dict[str, Any]) -> tuple[dict[str, str], int]:
        """Mint a single-use connect ticket for one user of the host (from its backend)."""
        host = authorized_host()
        ctx = api_context()
        hit_rate(ctx.settings.ticket_rate, "ticket", host)
        modes = [LoginMode(m) for m in dict.fromkeys(args.get("modes") or _MODES)]
        origin = origin_of(args["origin"]) or "" if args.get("origin") else ""
        ticket, expires = ctx.tickets.mint(host, args["end_user"], modes, origin,
                                           ctx.settings.ticket_ttl)
        expires_at = datetime.fromtimestamp(expires, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"ticket": ticket, "expires_at": expires_at}, 201
