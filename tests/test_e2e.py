"""End to end through real HTTP, a real Celery worker, real Redis and the simulator."""

from __future__ import annotations

import time

import pytest
import redis
import requests

from tests.support.cli_simulator import FULL_CODE, LOCALHOST, VERIFICATION, tokens_for
from tests.support.processes import cli_processes, redis_dump, wait_for
from vaporforge.cli_output import url_problem


def test_full_oauth_login_is_claimed_once(stack):
    started = time.monotonic()
    session = stack.create("oauth")
    assert session["state"] == "starting"
    assert session["poll_after_ms"] > 0
    status = stack.wait_state(session, "awaiting_code")
    print(f"create -> awaiting_code: {time.monotonic() - started:.3f} s")
    assert url_problem(status["oauth_url"]) is None
    assert "redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback" in \
        status["oauth_url"]
    assert status["error"] is None

    code = "e2e-authorization-code-0001#state-0001"
    response = stack.call("POST", session, "/code", json={"code": code})
    assert response.status_code == 202 and response.json() == {"state": "verifying"}
    assert stack.wait_state(session, "ready")["oauth_url"] is None

    first = stack.call("POST", session, "/credentials")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    body = first.json()
    assert body["mode"] == "oauth"
    oauth = body["credentials"]["claudeAiOauth"]
    assert oauth["accessToken"] == tokens_for(code)["access"]
    assert oauth["refreshToken"] == tokens_for(code)["refresh"]

    again = stack.call("POST", session, "/credentials")
    assert again.status_code == 410
    assert again.json()["error"]["code"] == "already_claimed"
    assert stack.status(session)["state"] == "claimed"


def test_console_mode_uses_the_console_sign_in_host(stack):
    session = stack.create("console")
    status = stack.wait_state(session, "awaiting_code")
    assert status["oauth_url"].startswith("https://platform.claude.com/oauth/authorize?")
    code = "console-code-abcdefgh#state"
    assert stack.call("POST", session, "/code", json={"code": code}).status_code == 202
    stack.wait_state(session, "ready")
    body = stack.call("POST", session, "/credentials").json()
    assert body["mode"] == "console"
    assert body["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]


def test_setup_token_hands_out_the_printed_token(stack):
    session = stack.create("setup-token")
    status = stack.wait_state(session, "awaiting_code")
    assert "scope=user%3Ainference" in status["oauth_url"]
    code = "setup-token-code-123456#state-xyz"
    assert stack.call("POST", session, "/code", json={"code": code}).status_code == 202
    stack.wait_state(session, "ready")
    body = stack.call("POST", session, "/credentials").json()
    assert body == {"mode": "setup-token",
                    "credentials": {"oauth_token": tokens_for(code)["access"]}}


def test_default_mode_is_oauth_with_an_empty_body(stack):
    response = requests.post(stack.url("/api/auth/sessions"), timeout=10)
    assert response.status_code == 202, response.text
    session = response.json()
    assert session["mode"] == "oauth"
    assert stack.call("DELETE", session).status_code == 204


@pytest.mark.parametrize(("pasted", "sentence"), [
    ("abc", FULL_CODE),
    ("https://localhost:1234/callback?code=x", LOCALHOST),
    ("123456", VERIFICATION),
])
def test_rejected_paste_returns_to_awaiting_code_and_a_second_paste_works(
        stack, pasted, sentence):
    session = stack.create("oauth")
    stack.wait_state(session, "awaiting_code")
    assert stack.call("POST", session, "/code", json={"code": pasted}).status_code == 202
    status = stack.wait_state(session, "awaiting_code")
    assert status["error"] == {"code": "invalid_code", "message": sentence}
    assert stack.call("POST", session, "/code", json={"code": "good-code#st"}).status_code == 202
    stack.wait_state(session, "ready")
    assert stack.call("POST", session, "/credentials").status_code == 200


def test_exchange_failure_ends_the_session_with_the_clis_reason(stack):
    session = stack.create("oauth")
    stack.wait_state(session, "awaiting_code")
    stack.call("POST", session, "/code", json={"code": "will-fail-code#state"})
    status = stack.wait_state(session, "failed")
    assert status["error"]["code"] == "exchange_failed"
    assert "getaddrinfo ENOTFOUND platform.claude.com" in status["error"]["message"]
    assert stack.call("POST", session, "/credentials").status_code == 409


def test_cancel_ends_the_cli_process(stack):
    session = stack.create("oauth")
    stack.wait_state(session, "awaiting_code")
    wait_for(lambda: cli_processes(), what="the CLI to run")
    assert stack.call("DELETE", session).status_code == 204
    assert stack.status(session)["state"] == "cancelled"
    wait_for(lambda: not cli_processes(), timeout=10, what="the CLI to end")
    assert stack.call("POST", session, "/code", json={"code": "x#y"}).status_code == 409
    assert stack.call("DELETE", session).status_code == 204  # idempotent


def test_code_in_the_wrong_state_is_409(api):
    session = api.create("oauth")
    early = api.call("POST", session, "/code", json={"code": "early#code"})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "invalid_state"
    api.take_and_publish(session)
    assert api.call("POST", session, "/code", json={"code": "fine#code"}).status_code == 202
    again = api.call("POST", session, "/code", json={"code": "again#code"})
    assert again.status_code == 409 and "verifying" in again.get_json()["error"]["message"]


def test_claim_before_ready_is_409_not_ready(api):
    session = api.waiting()
    response = api.call("POST", session, "/credentials")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_ready"


def test_many_sessions_wait_at_once_on_one_worker(stack):
    sessions = [stack.create("oauth") for _ in range(12)]
    for session in sessions:
        stack.wait_state(session, "awaiting_code")
    assert len(cli_processes()) >= 12
    for session in sessions:
        assert stack.call("DELETE", session).status_code == 204


def test_readyz_reports_redis_and_the_cli_version(stack):
    body = wait_for(lambda: (r := requests.get(stack.url("/readyz"), timeout=5).json())
                    .get("cli_versions") and r, what="a CLI version report")
    assert body["redis"] == "ok"
    assert body["cli_versions"]["local"].startswith("2.1.332")
    assert requests.get(stack.url("/healthz"), timeout=5).json() == {"status": "ok"}


def test_openapi_document_is_served(api):
    spec = api.client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/auth/sessions", "/api/auth/sessions/{session_id}",
                 "/api/auth/sessions/{session_id}/code",
                 "/api/auth/sessions/{session_id}/credentials"):
        assert path in spec["paths"]


def test_store_keys_hold_no_secret(stack):
    code = "secret-code-do-not-store-777#state"
    session, _ = stack.sign_in("oauth", code)
    dump = redis_dump(stack.redis_url)
    for secret in (code, tokens_for(code)["access"], session["session_token"]):
        assert secret.encode() not in dump
    assert code not in stack.logs() and tokens_for(code)["access"] not in stack.logs()


def test_a_lost_task_ends_not_started_within_the_bound(api):
    quick = api.with_settings(start_timeout=1)
    session = quick.create("oauth")
    broker = redis.Redis.from_url(quick.settings.broker_url)
    assert broker.dbsize() > 0
    broker.flushdb()  # the queued task is lost (a broker crash, an API dying mid-send)
    assert quick.status(session)["state"] == "starting"
    time.sleep(1.2)
    status = quick.status(session)
    assert (status["state"], status["error"]["code"]) == ("failed", "not_started")
    assert quick.client.get("/readyz").get_json()["live_sessions"] == 0  # admission freed
