"""POST /api/auth/refresh: the CLI's refresh grant relayed to the sign-in service.

The Flask app runs in-process against the real redis-server (rate limits) and
tests/support/fake_oauth/ on plain loopback HTTP as the sign-in service. Every
token here starts with ``sk-ant-``; no log line may hold one, nor the redaction
mark that would show one was masked.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from api import create_app
from tests.support.fake_oauth import (
    CLAUDE_AI_SCOPES,
    CLIENT_ID,
    FakeOAuthServer,
    tokens_for_refresh,
)
from tests.support.processes import free_port, redis_dump
from vaporforge.errors import ConfigError, UpstreamUnavailable
from vaporforge.refresh import credentials_from
from vaporforge.settings import Settings

SCOPE = "user:profile user:inference"


@pytest.fixture(autouse=True)
def nothing_secret_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert "sk-ant-" not in caplog.text
    assert "[redacted]" not in caplog.text  # nothing had to be masked either


def client(redis_db: str, token_url: str, **settings: object) -> FlaskClient:
    config = Settings(redis_url=redis_db, key_prefix=f"refresh-{uuid.uuid4().hex[:8]}",
                      token_url=token_url, **{"refresh_rate": "1000/minute", **settings})
    return create_app({"SETTINGS": config}).test_client()


@pytest.fixture
def api(redis_db: str, upstream: FakeOAuthServer) -> FlaskClient:
    return client(redis_db, upstream.url + "/v1/oauth/token", refresh_timeout=2.0)


def new_refresh_token() -> str:
    return "sk-ant-ort01-" + uuid.uuid4().hex * 2


def error_of(response) -> tuple[int, str]:
    body = response.get_json()
    assert "sk-ant-" not in response.get_data(as_text=True)
    return response.status_code, body["error"]["code"]


def test_relays_the_clis_exact_grant_and_answers_like_the_credentials_file(
        api, upstream, redis_db):
    token = new_refresh_token()
    before = int(time.time() * 1000)
    response = api.post("/api/auth/refresh", json={"refresh_token": token, "scope": SCOPE})
    after = int(time.time() * 1000)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    sent = upstream.refresh_bodies[-1]
    assert sent["content_type"] == "application/json"
    assert sent["body"] == {"grant_type": "refresh_token", "refresh_token": token,
                            "client_id": CLIENT_ID, "scope": SCOPE}
    issued = tokens_for_refresh(token)
    answer = response.get_json()
    assert set(answer) == {"claudeAiOauth", "expires_in"} and answer["expires_in"] == 28800
    oauth = answer["claudeAiOauth"]
    assert oauth["accessToken"] == issued["access_token"]
    assert oauth["refreshToken"] == issued["refresh_token"] != token  # rotated
    assert before + 28800 * 1000 <= oauth["expiresAt"] <= after + 28800 * 1000
    assert oauth["scopes"] == SCOPE.split()
    assert "refreshTokenExpiresAt" not in oauth  # the sign-in service did not say
    # Nothing kept: no token anywhere in Redis.
    dump = redis_dump(redis_db)
    assert token.encode() not in dump and issued["access_token"].encode() not in dump


def test_without_a_scope_the_clis_login_scope_is_asked_for(api, upstream):
    response = api.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
    assert response.status_code == 200
    assert upstream.refresh_bodies[-1]["body"]["scope"] == CLAUDE_AI_SCOPES
    assert response.get_json()["claudeAiOauth"]["scopes"] == CLAUDE_AI_SCOPES.split()


def test_the_refresh_tokens_own_expiry_is_passed_on_when_given(api, upstream):
    upstream.refresh_token_lifetime = 30 * 86400
    try:
        response = api.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
    finally:
        upstream.refresh_token_lifetime = None
    oauth = response.get_json()["claudeAiOauth"]
    assert oauth["refreshTokenExpiresAt"] - oauth["expiresAt"] == (30 * 86400 - 28800) * 1000


def test_a_used_refresh_token_is_refresh_rejected(api):
    token = new_refresh_token()
    assert api.post("/api/auth/refresh", json={"refresh_token": token}).status_code == 200
    again = api.post("/api/auth/refresh", json={"refresh_token": token})
    assert error_of(again) == (400, "refresh_rejected")
    assert "Sign in again" in again.get_json()["error"]["message"]


def test_a_refused_refresh_token_is_refresh_rejected(api):
    response = api.post("/api/auth/refresh", json={"refresh_token": "sk-ant-ort01-bad-0123"})
    assert error_of(response) == (400, "refresh_rejected")


def test_an_upstream_5xx_is_upstream_unavailable(api):
    response = api.post("/api/auth/refresh", json={"refresh_token": "sk-ant-ort01-err-0123"})
    assert error_of(response) == (502, "upstream_unavailable")


def test_an_unreachable_upstream_is_upstream_unavailable(redis_db):
    closed = client(redis_db, f"http://127.0.0.1:{free_port()}/v1/oauth/token")
    response = closed.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
    assert error_of(response) == (502, "upstream_unavailable")


def test_a_slow_upstream_is_cut_off_as_upstream_unavailable(redis_db, upstream):
    upstream.slow_refresh = 3.0
    slow = client(redis_db, upstream.url + "/v1/oauth/token", refresh_timeout=0.3)
    try:
        response = slow.post("/api/auth/refresh",
                             json={"refresh_token": "sk-ant-ort01-slow-" + uuid.uuid4().hex})
    finally:
        upstream.slow_refresh = 5.0
    assert error_of(response) == (502, "upstream_unavailable")


def test_a_200_without_a_token_is_upstream_unavailable():
    with pytest.raises(UpstreamUnavailable):
        credentials_from({"token_type": "Bearer"}, "sk-ant-ort01-x", SCOPE, 0)
    with pytest.raises(UpstreamUnavailable):
        credentials_from({"access_token": "a", "expires_in": "soon"}, "r", SCOPE, 0)


@pytest.mark.parametrize("body", [
    {},
    {"refresh_token": ""},
    {"refresh_token": "sk-ant-ort01-has space"},
    {"refresh_token": "sk-ant-ort01-0123456789", "scope": "two  spaces"},
    {"refresh_token": "sk-ant-ort01-0123456789", "extra": 1},
])
def test_malformed_requests_are_validation_errors(api, upstream, body):
    sent = len(upstream.refresh_bodies)
    assert error_of(api.post("/api/auth/refresh", json=body)) == (400, "validation_error")
    assert len(upstream.refresh_bodies) == sent  # nothing went upstream


def test_too_many_refreshes_from_one_address_are_rate_limited(redis_db, upstream):
    limited = client(redis_db, upstream.url + "/v1/oauth/token", refresh_rate="2/minute")
    answers = [limited.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
               for _ in range(3)]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert error_of(answers[2]) == (429, "rate_limited")
    assert "Retry-After" in answers[2].headers


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://platform.claude.com/v1/oauth/token", True),
    ("http://127.0.0.1:8080/v1/oauth/token", True),
    ("http://[::1]:8080/v1/oauth/token", True),
    ("http://localhost/v1/oauth/token", True),
    ("http://platform.claude.com/v1/oauth/token", False),
    ("http://10.0.0.1/v1/oauth/token", False),
    ("ftp://127.0.0.1/token", False),
    ("https://user:pw@platform.claude.com/v1/oauth/token", False),
])
def test_the_token_url_is_https_or_loopback_http(url, allowed):
    if allowed:
        assert Settings.from_env({"VF_TOKEN_URL": url}).token_url == url
    else:
        with pytest.raises(ConfigError):
            Settings.from_env({"VF_TOKEN_URL": url})


def test_the_default_token_url_is_the_clis():
    assert Settings.from_env({}).token_url == "https://platform.claude.com/v1/oauth/token"
