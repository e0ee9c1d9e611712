"""/api/auth/sessions: create a login, poll it, paste the code, claim, cancel.

Routes only: every rule that moves a session is in :mod:`vaporforge.session.lifecycle`.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import OperationalError

from api.context import api_context
from api.limits import LimitKind, check_session, hit_rate, refuse_probe, session_counter
from api.schemas import (
    CodeAcceptedSchema,
    CreateSessionSchema,
    CredentialsSchema,
    ErrorSchema,
    SessionCreatedSchema,
    SessionStatusSchema,
    SubmitCodeSchema,
)
from vaporforge import defaults
from vaporforge.access import bearer, digest, needs_ticket, user_digest
from vaporforge.errors import (
    ClientKeyRequired,
    QueueUnreachable,
    SessionNotFound,
    TicketInvalid,
    TicketRequired,
)
from vaporforge.sealing import public_jwk
from vaporforge.session import lifecycle
from vaporforge.session.record import SessionRecord
from vaporforge.session.states import LoginMode
from vaporforge.tickets import Taken

blp = Blueprint("sessions", __name__, url_prefix="/api/auth/sessions",
                description="One Claude login per session")

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
"""The shape a session token can have; anything else is refused before the store is asked."""


def take_ticket(mode: LoginMode, *, named: bool) -> tuple[LoginMode, Taken | None]:
    """The mode and the connect ticket this creation uses, taken (atomically) once
    every check a caller could fix or wait out has passed (origin and mode, by the
    ticket and by its host; the host user's creation rate, the host's
    ``user_create_rate``); no ticket where none is needed (protected mode, a
    loopback or private client). Unless the creation ``named`` its mode, the
    ticket's first mode replaces ``mode``. Raises TicketRequired, TicketInvalid
    (also for a host that has left the deployment), ModeNotAllowed,
    OriginNotAllowed."""
    ctx = api_context()
    if not needs_ticket(bool(ctx.settings.host_keys), request.remote_addr):
        return mode, None
    presented = bearer(request.headers.get("Authorization"))
    if not presented or not ctx.settings.host_keys:  # protected mode mints no tickets
        raise TicketRequired()
    origin = request.headers.get("Origin")
    allowed = ctx.tickets.peek(presented)
    host = ctx.settings.hosts.get(allowed.host)
    if host is None:
        raise TicketInvalid()
    mode = mode if named else allowed.modes[0]
    allowed.allows(mode, origin, host)
    hit_rate(host.user_create_rate, "create_user", user_digest(allowed.host, allowed.end_user))
    taken = ctx.tickets.take(presented)
    taken.ticket.allows(mode, origin, host)
    return mode, taken


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def authorized_session(session_id: str, kind: LimitKind) -> SessionRecord:
    """The session as it now stands, if the bearer token matches it; one 404 for
    every other case. Only the token's holder spends the session's rate limit or
    makes the store record what it implies (expiry, a lost worker)."""
    token = bearer(request.headers.get("Authorization"))
    store = api_context().store
    snapshot, presented = None, ""
    counter = session_counter(kind, session_id)
    if _SESSION_TOKEN.match(token) and _SESSION_ID.match(session_id):
        presented = digest(token)
        snapshot = lifecycle.observe(store, session_id, count=counter, token_hash=presented)
    if snapshot is None or not hmac.compare_digest(presented, snapshot.record.token_hash):
        refuse_probe()
        raise SessionNotFound()
    check_session(kind, counter, snapshot.hits, store.window_left)
    return lifecycle.settle(store, snapshot)


def status_body(record: SessionRecord) -> dict[str, Any]:
    error = ({"code": record.error_code, "message": record.error_message}
             if record.error_code else None)
    return {"session_id": record.session_id, "state": record.state.value,
            "mode": record.mode.value,
            "oauth_url": record.oauth_url if record.state.shows_url and record.oauth_url else None,
            "error": error, "expires_at": _iso(record.expires_at),
            "poll_after_ms": defaults.POLL_AFTER_MS}


_BEARER_DOC: dict[str, Any] = {"security": [{"sessionToken": []}]}


def _link(operation: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": {
        "session_id": "$response.body#/session_id",
        "header.Authorization": "Bearer {$response.body#/session_token}"}}


_CREATED_LINKS = {"responses": {"202": {"links": {
    "GetSession": _link("getSession"), "SubmitCode": _link("submitCode"),
    "ClaimCredentials": _link("claimCredentials"), "CancelSession": _link("cancelSession"),
}}}}


@blp.route("")
class Sessions(MethodView):
    @blp.arguments(CreateSessionSchema, location="json", required=False,
                   error_status_code=400)
    @blp.response(202, SessionCreatedSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(401, schema=ErrorSchema)
    @blp.alt_response(403, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.alt_response(503, schema=ErrorSchema)
    @blp.doc(operationId="createSession", security=[{"connectTicket": []}, {}],
             **_CREATED_LINKS)
    def post(self, args: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Start a login: a worker launches the CLI and publishes its sign-in URL.

        With ``VF_HOST_KEYS`` set it needs a connect ticket (``Authorization:
        Bearer <ticket>``); only a creation answered ``202`` uses the ticket up.
        """
        ctx = api_context()
        settings = ctx.settings
        mode = settings.allows(args.get("mode"))  # 403 mode_not_allowed (the deployment's)
        client_key = ""
        if args.get("client_public_key") is not None:
            client_key = json.dumps(public_jwk(args["client_public_key"]))
        elif settings.require_client_key:
            raise ClientKeyRequired("This broker only hands out sealed credentials: send "
                                    "client_public_key (an EC P-256 public JWK).")
        mode, taken = take_ticket(mode, named=args.get("mode") is not None)
        try:
            return self._create(mode, client_key, taken)
        except BaseException:
            if taken is not None:
                ctx.tickets.give_back(taken)
            raise

    def _create(self, mode: LoginMode, client_key: str,
                taken: Taken | None) -> tuple[dict[str, Any], int, dict[str, str]]:
        ctx = api_context()
        store, settings = ctx.store, ctx.settings
        token = secrets.token_urlsafe(32)
        record = lifecycle.create(
            store, mode=mode,
            token_hash=digest(token), client_key=client_key,
            session_ttl=settings.session_ttl, start_timeout=settings.start_timeout,
            max_sessions=settings.max_sessions, warm=True, heartbeat_ttl=settings.heartbeat_ttl,
            host=taken.ticket.host if taken else "",
            end_user=taken.ticket.end_user if taken else "",
            idle_timeout=settings.idle_timeout)
        session_id = record.session_id

        def send(sid: str) -> None:
            try:
                ctx.tasks.send_task(defaults.RUN_LOGIN_TASK, args=[sid],
                                    queue=defaults.LOGIN_QUEUE, expires=settings.start_timeout)
            except OperationalError:
                raise QueueUnreachable() from None

        lifecycle.start(store, record, send)
        body = {"session_id": session_id, "session_token": token, "state": record.state.value,
                "mode": record.mode.value, "oauth_url": record.oauth_url or None,
                "expires_at": _iso(record.expires_at), "poll_after_ms": defaults.POLL_AFTER_MS}
        return body, 202, {"Location": f"/api/auth/sessions/{session_id}"}


@blp.route("/<session_id>")
class Session(MethodView):
    @blp.response(200, SessionStatusSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="getSession", **_BEARER_DOC)
    def get(self, session_id: str) -> Response:
        """The session's state, and the sign-in URL once the CLI has shown it."""
        # The hot path: the body is built directly (the schema documents it).
        return jsonify(status_body(authorized_session(session_id, LimitKind.POLL)))

    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="cancelSession", **_BEARER_DOC)
    def delete(self, session_id: str) -> tuple[str, int]:
        """Cancel: the CLI process (or container) is ended and nothing is kept."""
        authorized_session(session_id, LimitKind.ACTION)
        lifecycle.cancel(api_context().store, session_id)
        return "", 204


@blp.route("/<session_id>/code")
class Code(MethodView):
    @blp.arguments(SubmitCodeSchema, location="json", error_status_code=400)
    @blp.response(202, CodeAcceptedSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(409, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="submitCode", **_BEARER_DOC)
    def post(self, args: dict[str, str], session_id: str) -> dict[str, str]:
        """Hand the code the user pasted to the CLI that waits for it."""
        authorized_session(session_id, LimitKind.ACTION)
        ctx = api_context()
        state = lifecycle.submit_code(ctx.store, session_id, args["code"].strip(),
                                      max_attempts=ctx.settings.max_code_attempts,
                                      code_ttl=ctx.settings.exchange_timeout)
        return {"state": state.value}


@blp.route("/<session_id>/credentials")
class Credentials(MethodView):
    @blp.response(200, CredentialsSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(409, schema=ErrorSchema)
    @blp.alt_response(410, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="claimCredentials", **_BEARER_DOC)
    def post(self, session_id: str) -> Response:
        """The credential payload, exactly once; 410 ``already_claimed`` after."""
        authorized_session(session_id, LimitKind.ACTION)
        payload = lifecycle.claim(api_context().store, session_id)
        return Response(payload, status=200, mimetype="application/json")
