"""/api/auth/revocations: a host's backend disconnects one of its users.

Routes and schemas only: what a revocation is and how the relay honours it is
:mod:`vaporforge.revocations`; the live login ends through the lifecycle
(:func:`vaporforge.session.lifecycle.revoke`). Host key as for tickets; limited
per host by ``VF_TICKET_RATE`` (a revocation is a ticket's counterpart).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from flask import Flask, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates

from api.context import ApiContext, api_context
from api.limits import hit_rate
from api.schemas import ErrorSchema
from api.tickets import authorized_host
from vaporforge.events import EventType, Subject
from vaporforge.revocations import Revocations
from vaporforge.session import lifecycle

log = logging.getLogger("vaporforge.api")

blp = Blueprint("revocations", __name__, url_prefix="/api/auth/revocations",
                description="Revocations: a host app's backend disconnects one of its users")

EXTENSION = "vaporforge.revocations"
_SESSION_ID = r"^[A-Za-z0-9_-]{1,64}$"


def install(app: Flask, ctx: ApiContext) -> None:
    """Keep the app's :class:`Revocations` and start the store's epoch (a store
    that is down now gets one at the first check)."""
    revocations = Revocations(ctx.store.redis, ctx.settings.key_prefix, ctx.settings.grant_ttl)
    app.extensions[EXTENSION] = revocations
    try:
        revocations.start_epoch()
    except redis.RedisError as exc:
        log.warning("revocation epoch not checked at start (%s)", type(exc).__name__)


def revocations() -> Revocations:
    found: Revocations = current_app.extensions[EXTENSION]
    return found


def presenting_host() -> str:
    """The name of the host whose key the request carries; Unauthorized (counted as
    a failed look-up) otherwise. Host keys are checked in one place:
    :func:`api.tickets.authorized_host`."""
    return authorized_host().name


class RevocationRequestSchema(Schema):
    class Meta:
        ordered = True

    end_user = fields.String(required=True, validate=validate.Length(min=1, max=128), metadata={
        "description": "the host's own id for its user, as in its tickets"})
    session_id = fields.String(validate=validate.Regexp(_SESSION_ID), metadata={
        "description": "only this login's grants (and the login, if still live); default: "
                       "every grant of the user", "pattern": _SESSION_ID})

    @validates("end_user")
    def _printable(self, value: str, **_: object) -> None:
        if not value.isprintable():
            raise ValidationError("end_user must be printable characters.")


class RevocationSchema(Schema):
    class Meta:
        ordered = True

    end_user = fields.String(required=True)
    session_id = fields.String(metadata={"description": "when the revocation named one"})
    revoked_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "UTC, ISO 8601 with milliseconds: grants issued "
                                              "until then are refused (401 grant_revoked)"})
    cancelled = fields.List(fields.String(), required=True, metadata={
        "description": "ids of the live logins this ended (cancelled, error code revoked)"})


@blp.route("")
class RevocationsRoute(MethodView):
    @blp.arguments(RevocationRequestSchema, location="json", error_status_code=400)
    @blp.response(201, RevocationSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="revokeUser", security=[{"hostKey": []}])
    def post(self, args: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """Disconnect a user of the host (from its backend): every refresh grant
        issued to them until now is refused with ``401 grant_revoked``, and a
        login of theirs still live ends ``cancelled`` (``revoked``). The host
        hears ``token.revoked``."""
        host = presenting_host()
        ctx = api_context()
        hit_rate(ctx.settings.ticket_rate, "revocation", host)
        end_user, session_id = args["end_user"], args.get("session_id", "")
        revoked_ms = revocations().revoke(host, end_user, session_id)
        cancelled = lifecycle.revoke(ctx.store, host, end_user, session_id)
        ctx.events.emit(EventType.TOKEN_REVOKED, Subject(host, end_user, session_id, ""))
        when = datetime.fromtimestamp(revoked_ms / 1000, tz=UTC)
        answer = {"end_user": end_user, **({"session_id": session_id} if session_id else {}),
                  "revoked_at": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{revoked_ms % 1000:03d}Z",
                  "cancelled": cancelled}
        return answer, 201
