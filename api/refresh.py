"""/api/auth/refresh: relay the browser's refresh token to the sign-in service.

Routes and schemas only; the relay itself is :mod:`vaporforge.refresh`.
The rate limit (``VF_REFRESH_RATE`` per client address) is attached in
:func:`api.limits.install`.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from api.context import ApiContext, api_context
from api.limits import hit_rate
from api.outcomes import for_host
from api.revocations import revocations
from api.schemas import ErrorSchema
from vaporforge import grants
from vaporforge.access import bearer, needs_ticket, user_digest
from vaporforge.errors import GrantRequired, GrantReused, GrantRevoked, RefreshRejected
from vaporforge.events import EventType, Subject, audit_log, encode
from vaporforge.refresh import relay_refresh
from vaporforge.revocations import Admission, Verdict

log = logging.getLogger("vaporforge.api")

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
    refresh_grant = fields.String(metadata={
        "description": "the grant for the rotated refresh token: send it with the next "
                       "refresh (the one sent is bound to the old token); present whenever "
                       "a grant was sent"})


def presented_grant(ctx: ApiContext, refresh_token: str) -> grants.Grant | None:
    """The grant the request carries, checked against ``refresh_token``; None where
    none is needed (protected mode, a private client, no grant sent)."""
    settings = ctx.settings
    presented = bearer(request.headers.get("Authorization"))
    required = needs_ticket(bool(settings.host_keys), request.remote_addr)
    if required and not presented:
        raise GrantRequired()
    if not presented or not (required or settings.grant_keys):
        return None
    hosts = frozenset(k.name for k in settings.host_keys) if settings.host_keys else None
    return grants.check(settings.grant_keys, presented, refresh_token, hosts)


@blp.route("")
class Refresh(MethodView):
    @blp.arguments(RefreshRequestSchema, location="json", error_status_code=400)
    @blp.response(200, RefreshedSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(403, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.alt_response(502, schema=ErrorSchema)
    @blp.doc(operationId="refreshTokens", security=[{"refreshGrant": []}])
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange a refresh token for new tokens, as the CLI does (refresh tokens rotate).

        With host keys set (and in protected mode from outside private networks)
        the login's ``refresh_grant`` is required: ``401 grant_required`` without
        it, ``401 grant_invalid`` for a bad one or one for another token,
        ``403 scope_not_allowed`` beyond its scopes, ``401 grant_revoked`` when the
        host revoked it (or the broker lost its revocations: fail closed),
        ``401 grant_reused`` for a grant already rotated (a copy exists; every
        grant of that login is then revoked). ``400 refresh_rejected``:
        the sign-in service refused the token (sign in again).
        ``502 upstream_unavailable``: it could not be reached or timed out.
        """
        ctx = api_context()
        settings = ctx.settings
        grant = presented_grant(ctx, args["refresh_token"])
        scope = args.get("scope")
        if grant is None:
            return relay_refresh(settings.token_url, args["refresh_token"], scope,
                                 settings.refresh_timeout)
        for_host(grant.host)
        scope = grants.allowed_scope(grant, scope)
        subject = Subject(grant.host, grant.end_user, grant.session_id, grant.mode)
        # Revoked and reused grants are refused here: no budget spent, nothing sent upstream.
        next_id = grants.new_id()
        admitted = admit(ctx, grant, subject, next_id)
        try:
            host = settings.hosts.get(grant.host)  # None: a grant in protected mode
            hit_rate(host.user_refresh_rate if host else settings.user_refresh_rate,
                     "refresh_user", user_digest(grant.host, grant.end_user))
            answer = relay_refresh(settings.token_url, args["refresh_token"], scope,
                                   settings.refresh_timeout)
        except RefreshRejected as exc:
            revocations().rewind(grant, next_id)
            ctx.events.emit(EventType.TOKEN_REFRESH_REJECTED, subject, exc.code.value)
            raise
        except BaseException:
            # The next grant was never handed out: the one sent stays current, so
            # retrying it after an outage or a limit is not taken for a copy.
            revocations().rewind(grant, next_id)
            raise
        ctx.events.emit(EventType.TOKEN_REFRESHED, subject)
        following = replace(grant, grant_id=next_id, issued_ms=admitted.issued_ms,
                            generation=grant.generation + 1)
        answer["refresh_grant"] = grants.issue(
            settings.grant_keys, following, answer["claudeAiOauth"]["refreshToken"],
            settings.grant_ttl)
        return answer


def admit(ctx: ApiContext, grant: grants.Grant, subject: Subject, next_id: str) -> Admission:
    """The revocation and reuse checks (:mod:`vaporforge.revocations`):
    GrantRevoked / GrantReused (the host hears ``token.reuse_detected``), else
    the admission; a family found without a record is said in the audit log."""
    admitted = revocations().admit(grant, next_id)
    if admitted.verdict is Verdict.REVOKED:
        log.info("refresh refused: grant revoked (%s)", admitted.why)
        raise GrantRevoked()
    if admitted.verdict is Verdict.REUSED:
        ctx.events.emit(EventType.TOKEN_REUSE_DETECTED, subject, GrantReused.code.value)
        raise GrantReused()
    if admitted.started and grant.generation > 0:
        audit_log.warning(encode({
            "type": "grant.family_record_missing", "created": admitted.issued_ms // 1000,
            "data": {"host": grant.host, "end_user": grant.end_user,
                     "session_id": grant.session_id, "mode": grant.mode,
                     "generation": grant.generation,
                     "note": "no record of this grant family (the store lost it): "
                             "accepted, recording again"}}))
    return admitted
