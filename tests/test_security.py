"""Security controls (docs/SECURITY.md), each shown on the running stack."""

from __future__ import annotations

import itertools
import json

import pytest
import requests
from cli_simulator import tokens_for
from conftest import cli_processes, start_stack, stop_stack, wait_for
from harness import redis_dump
from joserfc import jwe
from joserfc.jwk import ECKey

ORIGIN = "https://app.example.com"
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def client_headers() -> dict[str, str]:
    """A distinct client address per test (the API trusts one proxy hop here)."""
    return {"X-Forwarded-For": next(_addresses)}


@pytest.fixture(scope="module")
def secure(redis_server, work_root):
    running = start_stack(redis_server, work_root, "secure", db=10, extra_env={
        "VF_REQUIRE_CLIENT_KEY": "true", "VF_TRUSTED_PROXIES": "1",
        "VF_CREATE_RATE": "10/minute", "VF_POLL_RATE": "30/minute",
        "VF_ALLOWED_ORIGINS": ORIGIN})
    yield running
    stop_stack(running)


def new_key() -> tuple[ECKey, dict]:
    key = ECKey.generate_key("P-256")
    return key, key.as_dict(private=False)


def start(stack, headers=None, mode="oauth") -> tuple[dict, ECKey]:
    key, public = new_key()
    session = stack.create(mode, headers=headers or client_headers(), client_public_key=public)
    return session, key


def wait(stack, session, *states):
    """Poll gently: this stack's poll limit is 30 a minute."""
    return stack.wait_state(session, *states, timeout=30, interval=0.5)


def test_sealed_login_leaves_no_secret_in_redis_or_logs(secure):
    session, key = start(secure)
    wait(secure, session, "awaiting_code")
    code = "UNIQUE-code-7f3a9c1e5b#UNIQUE-state-2d8e"
    secure.call("POST", session, "/code", json={"code": code})
    wait(secure, session, "ready")

    dump = redis_dump(secure.redis_url)
    token = tokens_for(code)["access"]
    for secret in (code, token, tokens_for(code)["refresh"], session["session_token"]):
        assert secret.encode() not in dump

    claimed = secure.call("POST", session, "/credentials")
    assert claimed.status_code == 200
    body = claimed.json()
    assert set(body) == {"mode", "jwe"} and body["mode"] == "oauth"
    assert token not in claimed.text
    header = json.loads(__import__("base64").urlsafe_b64decode(
        body["jwe"].split(".")[0] + "=="))
    assert (header["alg"], header["enc"]) == ("ECDH-ES", "A256GCM")
    plain = json.loads(jwe.decrypt_compact(body["jwe"], key).plaintext)
    assert plain["mode"] == "oauth"
    assert plain["credentials"]["claudeAiOauth"]["accessToken"] == token
    assert plain["credentials"]["claudeAiOauth"]["refreshToken"] == tokens_for(code)["refresh"]
    logs = secure.logs()
    assert code not in logs and token not in logs and session["session_token"] not in logs


def test_setup_token_is_sealed_too(secure):
    session, key = start(secure, mode="setup-token")
    wait(secure, session, "awaiting_code")
    code = "Zsealed-setup-token#state"
    secure.call("POST", session, "/code", json={"code": code})
    wait(secure, session, "ready")
    body = secure.call("POST", session, "/credentials").json()
    assert json.loads(jwe.decrypt_compact(body["jwe"], key).plaintext) == {
        "mode": "setup-token", "credentials": {"oauth_token": tokens_for(code)["access"]}}


@pytest.mark.parametrize(("body", "code"), [
    ({"mode": "oauth"}, "client_key_required"),
    ({"client_public_key": {"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}},
     "invalid_client_key"),
    ({"client_public_key": {"kty": "RSA", "n": "x", "e": "AQAB"}}, "invalid_client_key"),
    ({"client_public_key": {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}},
     "invalid_client_key"),
    ({"client_public_key": ECKey.generate_key("P-256").as_dict(private=True)},
     "invalid_client_key"),
    ({"client_public_key": "not a jwk"}, "validation_error"),
])
def test_client_key_is_required_and_checked(secure, body, code):
    response = requests.post(secure.url("/api/auth/sessions"), json=body, timeout=10,
                             headers=client_headers())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_one_sessions_token_cannot_touch_another(secure):
    headers = client_headers()
    first, _ = start(secure, headers)
    second, _ = start(secure, headers)
    wait(secure, first, "awaiting_code")
    borrowed = {**first, "session_token": second["session_token"]}
    for method, suffix, kwargs in [("GET", "", {}), ("POST", "/code", {"json": {"code": "a#b"}}),
                                   ("POST", "/credentials", {}), ("DELETE", "", {})]:
        response = secure.call(method, borrowed, suffix, **kwargs)
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"]["code"] == "not_found"
    assert wait(secure, first, "awaiting_code")["error"] is None
    for session in (first, second):
        secure.call("DELETE", session)


def test_the_eleventh_creation_in_a_minute_is_429(secure):
    headers = client_headers()
    made = [start(secure, headers)[0] for _ in range(10)]
    _, public = new_key()
    response = requests.post(secure.url("/api/auth/sessions"), timeout=10, headers=headers,
                             json={"client_public_key": public})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    other = requests.post(secure.url("/api/auth/sessions"), timeout=10,
                          headers=client_headers(), json={"client_public_key": public})
    assert other.status_code == 202  # the limit is per client address
    for session in [*made, other.json()]:
        secure.call("DELETE", session)


def test_status_polls_are_capped_per_session(secure):
    session, _ = start(secure)
    codes = [secure.call("GET", session).status_code for _ in range(31)]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    limited = secure.call("GET", session)
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "rate_limited"
    secure.call("DELETE", session)


def test_the_sixth_bad_code_ends_the_session(secure):
    session, _ = start(secure)
    status = wait(secure, session, "awaiting_code")
    for attempt in range(5):
        assert secure.call("POST", session, "/code", json={"code": "abc"}).status_code == 202
        status = wait(secure, session, "awaiting_code")
        assert status["error"]["code"] == "invalid_code", attempt
    sixth = secure.call("POST", session, "/code", json={"code": "abc"})
    assert sixth.status_code == 429
    assert sixth.json()["error"]["code"] == "too_many_attempts"
    status = wait(secure, session, "failed")
    assert status["error"]["code"] == "too_many_attempts"
    wait_for(lambda: not cli_processes(), timeout=15, what="the CLI to end")


def test_browser_facing_headers(secure):
    session, _ = start(secure)
    response = secure.call("GET", session, headers={"Origin": ORIGIN})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = secure.call("GET", session, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    preflight = requests.options(secure.url("/api/auth/sessions"), timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    secure.call("DELETE", session)


@pytest.fixture(scope="module")
def small(redis_server, work_root):
    running = start_stack(redis_server, work_root, "small", db=12,
                          extra_env={"VF_MAX_SESSIONS": "2"})
    yield running
    stop_stack(running)


def test_beyond_max_sessions_is_503_with_retry_after(small):
    sessions = [small.create("oauth") for _ in range(2)]
    response = requests.post(small.url("/api/auth/sessions"), json={}, timeout=10)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "at_capacity"
    assert int(response.headers["Retry-After"]) > 0
    small.call("DELETE", sessions[0])
    again = requests.post(small.url("/api/auth/sessions"), json={}, timeout=10)
    assert again.status_code == 202
    for session in [*sessions[1:], again.json()]:
        small.call("DELETE", session)


def test_beyond_the_workers_capacity_is_503(redis_server, work_root):
    stack = start_stack(redis_server, work_root, "tiny", db=14, concurrency=2)
    try:
        wait_for(lambda: requests.get(stack.url("/readyz"), timeout=5).json()["capacity"] == 2,
                 what="the worker to advertise its capacity")
        sessions = [stack.create("oauth") for _ in range(2)]
        response = requests.post(stack.url("/api/auth/sessions"), json={}, timeout=10)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "at_capacity"
        for session in sessions:
            stack.call("DELETE", session)
    finally:
        stop_stack(stack)
