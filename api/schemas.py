"""Request and response schemas (marshmallow); the OpenAPI document comes from these."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from vaporforge import defaults
from vaporforge.defaults import MAX_CODE_BYTES
from vaporforge.session.states import LoginMode, SessionState

_MODES = [m.value for m in LoginMode]
_STATES = [s.value for s in SessionState]


class StrictSchema(Schema):
    class Meta:
        ordered = True


class ErrorDetailSchema(StrictSchema):
    code = fields.String(required=True, metadata={"description": "stable snake_case code"})
    message = fields.String(required=True, metadata={"description": "for humans"})


class ErrorSchema(StrictSchema):
    error = fields.Nested(ErrorDetailSchema, required=True)


class CreateSessionSchema(StrictSchema):
    mode = fields.String(validate=validate.OneOf(_MODES), metadata={
        "description": "which CLI login to run; default: the first mode the deployment "
                       "offers (`oauth` unless VF_MODES says otherwise). A mode it does not "
                       "offer is 403 mode_not_allowed"})
    client_public_key = fields.Dict(keys=fields.String(), metadata={
        "description": "the browser's ephemeral EC P-256 public key as a JWK; the "
                       "credentials are then sealed to it as a compact JWE "
                       "(ECDH-ES, A256GCM)",
        "example": {"kty": "EC", "crv": "P-256", "x": "…", "y": "…"}})


class SessionCreatedSchema(StrictSchema):
    session_id = fields.String(required=True)
    session_token = fields.String(required=True, metadata={
        "description": "bearer token for every call on this session; shown once"})
    state = fields.String(required=True, validate=validate.OneOf(_STATES), metadata={
        "description": "starting; or awaiting_code when a warm CLI took the session"})
    mode = fields.String(required=True, validate=validate.OneOf(_MODES))
    oauth_url = fields.String(allow_none=True, metadata={
        "description": "the sign-in address at once when a warm CLI took the session"})
    expires_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "UTC, ISO 8601", "example": "2026-01-01T00:00:00Z"})
    poll_after_ms = fields.Integer(required=True)


class SessionStatusSchema(StrictSchema):
    session_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(_STATES))
    mode = fields.String(required=True, validate=validate.OneOf(_MODES))
    oauth_url = fields.String(required=True, allow_none=True, metadata={
        "description": "the CLI's sign-in address, while it waits for a code"})
    error = fields.Nested(ErrorDetailSchema, required=True, allow_none=True)
    expires_at = fields.String(required=True, metadata={
        "format": "date-time", "description": "UTC, ISO 8601", "example": "2026-01-01T00:00:00Z"})
    poll_after_ms = fields.Integer(required=True)


class SubmitCodeSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=MAX_CODE_BYTES),
                         metadata={"description": "the code the sign-in page showed "
                                                  "(code#state); at most 512 bytes as UTF-8",
                                   "pattern": r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$"})

    @validates("code")
    def _check(self, value: str, **_: object) -> None:
        if not value.strip():
            raise ValidationError("The code is empty.")
        if len(value.encode("utf-8")) > defaults.MAX_CODE_BYTES:
            raise ValidationError(f"The code is longer than {defaults.MAX_CODE_BYTES} bytes.")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value.strip()):
            raise ValidationError("The code contains control characters.")


class CodeAcceptedSchema(StrictSchema):
    state = fields.String(required=True, validate=validate.OneOf(_STATES))


class CredentialsSchema(StrictSchema):
    mode = fields.String(required=True, validate=validate.OneOf(_MODES))
    credentials = fields.Dict(metadata={
        "description": "without a client key: oauth/console: the CLI's .credentials.json "
                       "object; setup-token: {\"oauth_token\": \"sk-ant-oat01-…\"}"})
    api_key = fields.String(metadata={
        "description": "console mode, when the CLI minted an API key for an API-billing "
                       "account (its primaryApiKey); absent otherwise"})
    jwe = fields.String(metadata={
        "description": "with a client key: a compact JWE whose plaintext is "
                       "{\"mode\", \"credentials\"}"})
    refresh_grant = fields.String(metadata={
        "description": "oauth/console with VF_GRANT_KEYS: the grant POST /api/auth/refresh "
                       "needs (Authorization: Bearer) for this login's refresh token"})


class HealthSchema(StrictSchema):
    status = fields.String(required=True)


class ReadySchema(StrictSchema):
    status = fields.String(required=True)
    # The rest only for the callers that may read /metrics (vaporforge.access).
    redis = fields.String()
    cli_versions = fields.Dict(keys=fields.String(), values=fields.String())
    workers = fields.Integer()
    capacity = fields.Integer()
    live_sessions = fields.Integer()
    warm = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "warm entries offered now, per mode"})


class ModesSchema(StrictSchema):
    modes = fields.List(fields.String(validate=validate.OneOf(_MODES)), required=True, metadata={
        "description": "the login modes this deployment offers (VF_MODES), the one to "
                       "preselect first", "example": ["oauth", "console", "setup-token"]})
