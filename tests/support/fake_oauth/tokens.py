"""The fake sign-in service's fixed values and its predictable tokens: every
token and key is derived from the code or refresh token that was sent."""

from __future__ import annotations

import base64
import hashlib

CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
DEFAULT_HOSTS = [
    "claude.fedstart.com",
    "claude-staging.fedstart.com",
    "platform.claude.com",
    "api.anthropic.com",
    "claude.ai",
    "claude.com",
    "console.anthropic.com",
    "localhost",
]
CLAUDE_AI_SCOPES = (
    "org:create_api_key user:profile user:inference user:sessions:claude_code "
    "user:mcp_servers user:file_upload user:plugins user:privacy_consents:write "
    "org:desktop_config"
)
CONSOLE_SCOPES = "org:create_api_key user:profile"
SETUP_TOKEN_SCOPES = "user:inference"
ACCOUNT_UUID = "5f0c4a1e-0000-4000-8000-00000000a11c"
ORG_UUID = "5f0c4a1e-0000-4000-8000-0000000000b9"
DEFAULT_EMAIL = "fake-user@example.com"


# --------------------------------------------------------------------------- tokens
def _h(label: str, value: str) -> str:
    return hashlib.sha512(f"{label}:{value}".encode()).hexdigest()


def tokens_for_code(code: str) -> dict:
    """Tokens this server issues for an authorization code (the part before '#').

    access_token: "sk-ant-oat01-" + sha512("access:"+code).hex[:95]   (108 chars)
    refresh_token: "sk-ant-ort01-" + sha512("refresh:"+code).hex[:95]
    api_key (console): "sk-ant-api03-" + sha512("apikey:"+access_token).hex[:95]
    """
    code = code.split("#", 1)[0]
    access = "sk-ant-oat01-" + _h("access", code)[:95]
    return {
        "access_token": access,
        "refresh_token": "sk-ant-ort01-" + _h("refresh", code)[:95],
        "api_key": api_key_for_access_token(access),
    }


def tokens_for_refresh(refresh_token: str) -> dict:
    """Tokens issued for grant_type=refresh_token (rotating refresh token)."""
    return tokens_for_code("refresh:" + refresh_token)


def api_key_for_access_token(access_token: str) -> str:
    return "sk-ant-api03-" + _h("apikey", access_token)[:95]


def pkce_challenge(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


# --------------------------------------------------------------------------- certificates
