"""/api/auth/tickets: a host's backend mints a connect ticket for one of its users.

Routes and schemas only: hosts are :mod:`vaporforge.hosts`, tickets
:mod:`vaporforge.tickets`. Minting is limited per host (``VF_TICKET_RATE``);
a missing or wrong host key is one answer, ``401 unauthorized``, and counts
against the client network's failed look-ups. A ticket never allows more than
its host: modes beyond the host's, or an origin it does not list, are ``403``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from api.context import api_context
from api.limits import hit_rate, refuse_probe
from api.outcomes import for_host
from api.schemas import ErrorSchema
from vaporforge.access import bearer, origin_of
from vaporforge.errors import ModeNotAllowed, Unauthorized
from vaporforge.hosts import Host
from vaporforge.session.states import LoginMode

blp = Blueprint("tickets", __name__, url_prefix="/api/auth/tickets",
                description="Connect tickets, minted by a host app's backend with its host key")

_MODES = [m.value for m in LoginMode]
MAX_HOST_KEY_CHARS = 256


class TicketRequestSchema(Schema):
    class Meta:
        ordered = True

    end_user = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "the host's own id for its user (1-128 printable characters); shown "
                       "back in events, never used in Redis key names"})
    modes = fields.List(fields.String(validate=validate.OneOf(_MODES)),
                        validate=validate.Length(min=1, max=len(_MODES)), metadata={
                            "description": "login modes the ticket allows, among the "
                                           "host's; default: every mode the host offers"})
    origin = fields.String(validate=validate.Length(max=256), metadata={
        "description": "when given, the creation must carry this Origin header "
                       "(https://host[:port]; one of the host's origins when it lists any)",
        "example": "https://app.example"})

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


def authorized_host() -> Host:
    """The host whose key the request carries (``Authorization: Bearer <host key>``),
    with its own settings; Unauthorized, counted as a failed look-up, otherwise.
    Every route a host's backend calls with its key reads it here."""
    presented = bearer(request.headers.get("Authorization"))
    hosts = api_context().settings.hosts
    host = hosts.by_key(presented) if 0 < len(presented) <= MAX_HOST_KEY_CHARS else None
    if host is None:
        refuse_probe()
        raise Unauthorized()
    for_host(host.name)
    return host


def ticket_modes(host: Host, asked: list[str] | None) -> tuple[LoginMode, ...]:
    """The modes a ticket allows: those asked for that the host offers (all the
    host's when none are asked for); ModeNotAllowed when that leaves none."""
    if not asked:
        return host.modes
    asked = list(dict.fromkeys(asked))
    modes = tuple(m for m in map(LoginMode, asked) if m in host.modes)
    if not modes:
        raise ModeNotAllowed(f"This app offers only {', '.join(m.value for m in host.modes)} "
                             f"sign-ins, none of {', '.join(asked)}.")
    return modes


@blp.route("")
class Tickets(MethodView):
    @blp.arguments(TicketRequestSchema, location="json", error_status_code=400)
    @blp.response(201, TicketSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(403, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="createTicket", security=[{"hostKey": []}])
    def post(self, args: dict[str, Any]) -> tuple[dict[str, str], int]:
        """Mint a single-use connect ticket for one user of the host (from its backend).

        The ticket allows only the asked modes the host offers: ``403
        mode_not_allowed`` when it offers none of them; ``403 origin_not_allowed``:
        an origin the host does not list.
        """
        host = authorized_host()
        ctx = api_context()
        hit_rate(ctx.settings.ticket_rate, "ticket", host.name)
        modes = ticket_modes(host, args.get("modes"))
        origin = origin_of(args["origin"]) or "" if args.get("origin") else ""
        if origin:
            host.allows_origin(origin)
        ticket, expires = ctx.tickets.mint(host.name, args["end_user"], modes, origin,
                                           ctx.settings.ticket_ttl)
        expires_at = datetime.fromtimestamp(expires, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"ticket": ticket, "expires_at": expires_at}, 201
