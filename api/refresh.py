"""/api/auth/refresh: relay the browser's refresh token to the sign-in service.

Routes and schemas only; the relay itself is :mod:`vaporforge.refresh`.
The rate limit (``VF_REFRESH_RATE`` per client address) is attached in
:func:`api.limits.install`.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import api_context
from api.schemas import ErrorSchema
from vaporforge.refresh import relay_refresh

blp = Blueprint("refresh", __name__, url_prefix="/api/auth/refresh",
                description="Fresh tokens for a refresh token the browser holds; nothing is kept")

_TOKEN = r"^[A-Za-z0-9._~+/=-]+$"
_SCOPE = r"^[!#-\[\]-~]+( [!#-\[\]-~]+)*$"  # RFC 6749 scope tokens, one space apart


class RefreshRequestSchema(Schema):
    class Meta:
        ordered = True

    refresh_token = fields.String(
        required=True, validate=[validate.Length(min=8, max=4096), validate.Regexp(_TOKEN)],
        metadata={"description": "the refreshToken of the stored credentials",
                  "pattern": _TOKEN})
    scope = fields.String(
        validate=[validate.Length(min=1, max=1024), validate.Regexp(_SCOPE)],
        metadata={"description": "space-separated scopes (the stored scopes); default: what "
                                 "`claude auth login` asks for", "pattern": _SCOPE})


class ClaudeAiOauthSchema(Schema):
    class Meta:
        ordered = True

    accessToken = fields.String(required=True)
    refreshToken = fields.String(required=True, metadata={
        "description": "the rotated refresh token; the one sent is no longer valid"})
    expiresAt = fields.Integer(required=True, metadata={
        "description": "milliseconds since the epoch"})
    scopes = fields.List(fields.String(), required=True)
    refreshTokenExpiresAt = fields.Integer(metadata={
        "description": "milliseconds since the epoch; only when the sign-in service says"})


class RefreshedSchema(Schema):
    class Meta:
        ordered = True

    claudeAiOauth = fields.Nested(ClaudeAiOauthSchema, required=True)
    expires_in = fields.Integer(required=True, metadata={
        "description": "the access token's lifetime in seconds, as the sign-in service said; "
                       "a browser sets its own expiry from it (its clock may differ)"})


@blp.route("")
class Refresh(MethodView):
    @blp.arguments(RefreshRequestSchema, location="json", error_status_code=400)
    @blp.response(200, RefreshedSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.alt_response(502, schema=ErrorSchema)
    @blp.doc(operationId="refreshTokens")
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange a refresh token for new tokens, as the CLI does (refresh tokens rotate).

        ``400 refresh_rejected``: the sign-in service refused the token (sign in
        again). ``502 upstream_unavailable``: it could not be reached or timed out.
        """
        settings = api_context().settings
        return relay_refresh(settings.token_url, args["refresh_token"], args.get("scope"),
                             settings.refresh_timeout)
