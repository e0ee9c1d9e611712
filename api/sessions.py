"""/api/auth/sessions: create a login, poll it, paste the code, claim, cancel."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import OperationalError

from api.context import api_context
from api.errors import error_response
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
from vaporforge.errors import BrokerError
from vaporforge.sealing import public_jwk
from vaporforge.settings import Settings
from vaporforge.states import Event, InvalidTransition, LoginMode, SessionState
from vaporforge.store import SessionNotFound, SessionRecord, SessionStore

blp = Blueprint("sessions", __name__, url_prefix="/api/auth/sessions",
                description="One Claude login per session")

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_BEARER = re.compile(r"^Bearer\s+([A-Za-z0-9_-]{16,128})\s*$")


class Conflict(BrokerError):
    status = 409
    code = "invalid_state"


class Gone(BrokerError):
    status = 410
    code = "gone"


class Unavailable(BrokerError):
    status = 503
    code = "unavailable"


class AtCapacity(BrokerError):
    status = 503
    code = "at_capacity"
    message = "The broker is running as many logins as it can; try again shortly."
    headers = {"Retry-After": str(defaults.AT_CAPACITY_RETRY_AFTER)}


class ClientKeyRequired(BrokerError):
    status = 400
    code = "client_key_required"
    message = ("This broker only hands out sealed credentials: send client_public_key "
               "(an EC P-256 public JWK).")


class TooManyAttempts(BrokerError):
    status = 429
    code = "too_many_attempts"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def require_json_body() -> Response | None:
    """Bodies are JSON objects or absent; anything else is refused up front."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if not request.get_data(cache=True):
        return None
    if not request.is_json:
        return error_response(415, "unsupported_media_type",
                              "Send the request body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    if not isinstance(body, dict):
        return error_response(400, "invalid_json", "The request body must be a JSON object.")
    return None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def authorized_session(session_id: str) -> SessionRecord:
    """The session if the bearer token matches it; one 404 for every other case."""
    match = _BEARER.match(request.headers.get("Authorization", ""))
    if not _SESSION_ID.match(session_id) or not match:
        raise SessionNotFound()
    store = api_context().store
    record = store.get(session_id)
    if record is None or not hmac.compare_digest(token_hash(match.group(1)),
                                                 record.token_hash):
        raise SessionNotFound()
    # Only the token's holder may make the store record what it implies (expiry,
    # a lost worker): an unauthenticated request changes nothing.
    settled = store.settle(session_id)
    if settled is None:
        raise SessionNotFound()
    return settled


def status_body(record: SessionRecord) -> dict[str, Any]:
    error = ({"code": record.error_code, "message": record.error_message}
             if record.error_code else None)
    showing_url = record.state in (SessionState.AWAITING_CODE, SessionState.VERIFYING)
    return {"session_id": record.session_id, "state": record.state.value,
            "mode": record.mode.value,
            "oauth_url": record.oauth_url if showing_url and record.oauth_url else None,
            "error": error, "expires_at": _iso(record.expires_at),
            "poll_after_ms": defaults.POLL_AFTER_MS}


_BEARER_DOC = {"security": [{"sessionToken": []}]}


def _link(operation: str) -> dict[str, Any]:
    return {"operationId": operation, "parameters": {
        "session_id": "$response.body#/session_id",
        "header.Authorization": "Bearer {$response.body#/session_token}"}}


_CREATED_LINKS = {"responses": {"202": {"links": {
    "GetSession": _link("getSession"), "SubmitCode": _link("submitCode"),
    "ClaimCredentials": _link("claimCredentials"), "CancelSession": _link("cancelSession"),
}}}}


def _admit(store: SessionStore, settings: Settings) -> None:
    """Refuse a new login beyond VF_MAX_SESSIONS or the workers' summed capacity."""
    workers, capacity = store.worker_capacity()
    limit = settings.max_sessions if not workers else min(settings.max_sessions, capacity)
    if store.count_live() >= limit:
        raise AtCapacity()


@blp.route("")
class Sessions(MethodView):
    @blp.arguments(CreateSessionSchema, location="json", required=False,
                   error_status_code=400)
    @blp.response(202, SessionCreatedSchema)
    @blp.alt_response(400, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.alt_response(503, schema=ErrorSchema)
    @blp.doc(operationId="createSession", **_CREATED_LINKS)
    def post(self, args: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Start a login: a worker launches the CLI and publishes its sign-in URL."""
        ctx = api_context()
        store, settings = ctx.store, ctx.settings
        client_key = ""
        if args.get("client_public_key") is not None:
            client_key = json.dumps(public_jwk(args["client_public_key"]))
        elif settings.require_client_key:
            raise ClientKeyRequired()
        _admit(store, settings)
        session_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        now = store.now()
        record = SessionRecord(
            session_id=session_id, mode=LoginMode(args.get("mode", LoginMode.OAUTH.value)),
            state=SessionState.STARTING, token_hash=token_hash(token), created_at=now,
            expires_at=now + settings.session_ttl, updated_at=now, client_key=client_key)
        store.create(record)
        try:
            ctx.tasks.send_task(defaults.RUN_LOGIN_TASK, args=[session_id],
                                queue=defaults.LOGIN_QUEUE, expires=settings.session_ttl)
        except OperationalError:
            store.transition(session_id, Event.FAILED, error_code="unavailable",
                             error_message="The task queue is not reachable.")
            raise Unavailable("The login queue is not reachable; try again shortly.") from None
        body = {"session_id": session_id, "session_token": token, "state": record.state.value,
                "mode": record.mode.value, "expires_at": _iso(record.expires_at),
                "poll_after_ms": defaults.POLL_AFTER_MS}
        return body, 202, {"Location": f"/api/auth/sessions/{session_id}"}


@blp.route("/<session_id>")
class Session(MethodView):
    @blp.response(200, SessionStatusSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(429, schema=ErrorSchema)
    @blp.doc(operationId="getSession", **_BEARER_DOC)
    def get(self, session_id: str) -> dict[str, Any]:
        """The session's state, and the sign-in URL once the CLI has shown it."""
        return status_body(authorized_session(session_id))

    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.doc(operationId="cancelSession", **_BEARER_DOC)
    def delete(self, session_id: str) -> tuple[str, int]:
        """Cancel: the CLI process (or container) is ended and nothing is kept."""
        authorized_session(session_id)
        api_context().store.end(session_id, Event.CANCELLED)  # ended already: a no-op
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
        record = authorized_session(session_id)
        ctx = api_context()
        if record.state is not SessionState.AWAITING_CODE:
            raise Conflict(f"This session is not waiting for a code (it is {record.state.value}).")
        if ctx.store.increment_attempts(session_id) > ctx.settings.max_code_attempts:
            ctx.store.end(session_id, Event.FAILED, "too_many_attempts",
                          "Too many codes were tried; start again.")
            raise TooManyAttempts(f"Only {ctx.settings.max_code_attempts} codes may be tried "
                                  "per session; this session has ended.")
        try:
            ctx.store.transition(session_id, Event.CODE_SUBMITTED, error_code="",
                                 error_message="")
        except InvalidTransition:
            raise Conflict("This session is no longer waiting for a code.") from None
        ctx.store.push_code(session_id, args["code"].strip(), ctx.settings.exchange_timeout)
        return {"state": SessionState.VERIFYING.value}


@blp.route("/<session_id>/credentials")
class Credentials(MethodView):
    @blp.response(200, CredentialsSchema)
    @blp.alt_response(404, schema=ErrorSchema)
    @blp.alt_response(409, schema=ErrorSchema)
    @blp.alt_response(410, schema=ErrorSchema)
    @blp.doc(operationId="claimCredentials", **_BEARER_DOC)
    def post(self, session_id: str) -> Response:
        """The credential payload, exactly once; 410 ``already_claimed`` after."""
        record = authorized_session(session_id)
        store = api_context().store
        payload = store.claim_payload(session_id)
        if payload is not None:
            return Response(payload, status=200, mimetype="application/json")
        record = store.get(session_id) or record
        if record.state is SessionState.CLAIMED:
            raise Gone("The credentials were already handed out.", code="already_claimed")
        if record.state is SessionState.EXPIRED:
            raise Gone(record.error_message or "The login session expired.", code="expired")
        if record.state.terminal:
            raise Conflict(f"This session ended without credentials ({record.state.value}).")
        raise Conflict("The credentials are not ready yet.", code="not_ready")
