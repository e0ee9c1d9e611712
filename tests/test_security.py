"""Security controls (docs/SECURITY.md), each shown on the running stack."""

from __future__ import annotations

import itertools
import json

import pytest
from joserfc import jwe
from joserfc.jwk import ECKey

from tests.support.cli_simulator import tokens_for
from tests.support.processes import redis_dump
from vaporforge.registry import Registry
from vaporforge.session import lifecycle
from vaporforge.session.store import WAKE

ORIGIN = "https://app.example.com"
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def client_headers() -> dict[str, str]:
    """A distinct client address per test (the API trusts one proxy hop here)."""
    return {"X-Forwarded-For": next(_addresses)}


@pytest.fixture
def secure(stack):
    """The shared stack: a client key seals the payload whether or not the
    broker requires one (that requirement is tested in-process below)."""
    return stack


@pytest.fixture
def guarded(api):
    """The same settings in-process, with the production-like rate limits."""
    return api.with_settings(require_client_key=True, trusted_proxies=1,
                             create_rate="10/minute", poll_rate="30/minute",
                             action_rate="20/minute", probe_rate="40/minute",
                             allowed_origins=(ORIGIN,))


def new_key() -> tuple[ECKey, dict]:
    key = ECKey.generate_key("P-256")
    return key, key.as_dict(private=False)


def start(stack, headers=None, mode="oauth") -> tuple[dict, ECKey]:
    key, public = new_key()
    session = stack.create(mode, headers=headers or client_headers(), client_public_key=public)
    return session, key


def wait(stack, session, *states):
    return stack.wait_state(session, *states, timeout=30, interval=0.1)


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
def test_client_key_is_required_and_checked(guarded, body, code):
    response = guarded.client.post("/api/auth/sessions", json=body, headers=client_headers())
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def sealed(api, headers=None, mode="oauth") -> dict:
    return api.create(mode, headers=headers or client_headers(),
                      client_public_key=new_key()[1])


def test_one_sessions_token_cannot_touch_another(guarded):
    headers = client_headers()
    first, second = sealed(guarded, headers), sealed(guarded, headers)
    guarded.take_and_publish(first)
    borrowed = {**first, "session_token": second["session_token"]}
    for method, suffix, kwargs in [("GET", "", {}), ("POST", "/code", {"json": {"code": "a#b"}}),
                                   ("POST", "/credentials", {}), ("DELETE", "", {})]:
        response = guarded.call(method, borrowed, suffix, headers=headers, **kwargs)
        assert response.status_code == 404, (method, suffix)
        assert response.get_json()["error"]["code"] == "not_found"
    status = guarded.status(first)
    assert status["state"] == "awaiting_code" and status["error"] is None


def test_the_eleventh_creation_in_a_minute_is_429(guarded):
    headers = client_headers()
    for _ in range(10):
        sealed(guarded, headers)
    response = guarded.client.post("/api/auth/sessions", headers=headers,
                                   json={"client_public_key": new_key()[1]})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    other = guarded.client.post("/api/auth/sessions", headers=client_headers(),
                                json={"client_public_key": new_key()[1]})
    assert other.status_code == 202  # the limit is per client address


def test_status_polls_are_capped_per_session(guarded):
    session = sealed(guarded)
    codes = [guarded.call("GET", session).status_code for _ in range(31)]
    assert codes[:30] == [200] * 30
    assert codes[30] == 429
    limited = guarded.call("GET", session)
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["code"] == "rate_limited"


def test_the_sixth_code_ends_the_session(guarded):
    session = sealed(guarded)
    guarded.take_and_publish(session)
    sid = session["session_id"]
    for attempt in range(5):
        response = guarded.call("POST", session, "/code", json={"code": "abc"})
        assert response.status_code == 202, attempt
        assert guarded.store.wait_code(sid, 1) == "abc"
        lifecycle.reject_code(guarded.store, sid, "Invalid code.")  # as the CLI answers
    sixth = guarded.call("POST", session, "/code", json={"code": "abc"})
    assert sixth.status_code == 429
    assert sixth.get_json()["error"]["code"] == "too_many_attempts"
    status = guarded.status(session)
    assert (status["state"], status["error"]["code"]) == ("failed", "too_many_attempts")
    assert guarded.store.wait_code(sid, 1) == WAKE  # the worker is told to stop the CLI


def test_browser_facing_headers(guarded):
    session = sealed(guarded)
    response = guarded.call("GET", session, headers={"Origin": ORIGIN})
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = guarded.call("GET", session, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
    preflight = guarded.client.options("/api/auth/sessions", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_beyond_max_sessions_is_503_with_retry_after(api):
    small = api.with_settings(max_sessions=2)
    sessions = [small.create("oauth") for _ in range(2)]
    response = small.client.post("/api/auth/sessions", json={})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "at_capacity"
    assert int(response.headers["Retry-After"]) > 0
    small.call("DELETE", sessions[0])
    assert small.client.post("/api/auth/sessions", json={}).status_code == 202


def test_beyond_the_workers_capacity_is_503(api):
    # as a running worker advertises itself
    Registry.beside(api.store).register_worker("worker-a", 2, 30)
    assert api.client.get("/readyz").get_json()["capacity"] == 2
    for _ in range(2):
        api.create("oauth")
    response = api.client.post("/api/auth/sessions", json={})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "at_capacity"
