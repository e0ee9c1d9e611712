"""The real, pinned Claude Code CLI driven through the broker, on both runtimes.

Real HTTP, real Celery, real Redis. The CLI has no network: locally it runs in
its own empty network namespace (``unshare --net``), in Docker with network
``none``; nothing is sent to any outside host. The success path is in
``test_real_cli_success.py`` (a local sign-in server the CLI is pointed at).
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import start_stack, stop_stack, wait_for
from harness import cli_processes

REAL_CLI = os.environ.get("VF_REAL_CLI", "")
pytestmark = pytest.mark.realcli
if not REAL_CLI:
    pytest.skip("VF_REAL_CLI names the pinned CLI (the README's test command sets it)",
                allow_module_level=True)

REPROMPTS = {
    "abc": "That doesn't look like the full code. Copy all of it, including the # in the "
           "middle.",
    "https://localhost:1234/callback?code=x": "That address only works in a browser on this "
    "machine. Open the sign-in address shown above instead, and paste the code its last page "
    "shows.",
    "123456": "That looks like a verification code. Enter it in your browser, on the page that "
              "asks for it. If a page then shows a longer code, paste it here.",
}
RUNTIMES = ["local"] + (["docker"] if os.environ.get("VF_DOCKER_TESTS") == "1" else [])


@pytest.fixture(scope="module", params=RUNTIMES)
def real(request, databases, work_root):
    if request.param == "local":
        env, command = {}, f"unshare --net -- {REAL_CLI}"
    else:
        env = {"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": "vaporforge/login:latest",
               "VF_DOCKER_NETWORK": "none"}
        command = "claude"
    stack = start_stack(
        databases.allocate(), work_root, f"real-{request.param}",
                        login_command=command, extra_env=env)
    stack.runtime = request.param
    yield stack
    stop_stack(stack)


def login_containers() -> list:
    if os.environ.get("VF_DOCKER_TESTS") != "1":
        return []
    import docker
    client = docker.from_env()
    try:
        # the low-level list: no per-container inspect that races with removal
        return client.api.containers(all=True, filters={"label": "vaporforge.session"})
    finally:
        client.close()


@pytest.fixture(autouse=True)
def no_real_cli_left():
    yield
    wait_for(lambda: not cli_processes("claude-code"), timeout=20,
             what="every real CLI process to end")
    wait_for(lambda: not login_containers(), timeout=30,
             what="every login container to be removed")


def assert_sign_in_url(url: str, scope: str) -> None:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.scheme == "https"
    assert parts.hostname in ("claude.ai", "claude.com", "platform.claude.com")
    assert parts.path.endswith("/oauth/authorize")
    assert query["redirect_uri"] == ["https://platform.claude.com/oauth/code/callback"]
    assert query["code_challenge"][0] and query["state"][0]
    assert query["code_challenge_method"] == ["S256"]
    assert scope in query["scope"][0].split()
    assert "localhost" not in url


@pytest.mark.parametrize(("mode", "host", "scope"), [
    ("oauth", "claude.com", "user:sessions:claude_code"),
    ("console", "platform.claude.com", "org:create_api_key"),
    ("setup-token", "claude.com", "user:inference"),
])
def test_the_real_cli_publishes_its_full_sign_in_url(real, mode, host, scope):
    started = time.monotonic()
    session = real.create(mode)
    status = real.wait_state(session, "awaiting_code", timeout=60)
    print(f"{real.runtime} {mode}: create -> awaiting_code {time.monotonic() - started:.3f} s")
    assert urlsplit(status["oauth_url"]).hostname == host
    assert_sign_in_url(status["oauth_url"], scope)
    assert real.call("DELETE", session).status_code == 204


@pytest.mark.parametrize("mode", ["oauth", "console"])
def test_each_reprompt_returns_to_awaiting_code_and_a_second_paste_still_works(real, mode):
    session = real.create(mode)
    first = real.wait_state(session, "awaiting_code", timeout=60)["oauth_url"]
    for pasted, sentence in REPROMPTS.items():
        assert real.call("POST", session, "/code", json={"code": pasted}).status_code == 202
        status = real.wait_state(session, "awaiting_code", "failed", timeout=30)
        assert status["state"] == "awaiting_code"
        assert status["error"] == {"code": "invalid_code", "message": sentence}
        assert status["oauth_url"] == first  # same CLI, same PKCE challenge
    real.call("POST", session, "/code", json={"code": "well-formed-code#state"})
    status = real.wait_state(session, "failed", timeout=45)
    assert status["error"]["code"] == "exchange_failed"


@pytest.mark.parametrize("mode", ["oauth", "console", "setup-token"])
def test_a_code_the_sign_in_service_cannot_take_fails_in_bounded_time(real, mode):
    session = real.create(mode)
    real.wait_state(session, "awaiting_code", timeout=60)
    started = time.monotonic()
    real.call("POST", session, "/code", json={"code": "AbCdEfGh12345678#state-xyz"})
    status = real.wait_state(session, "failed", timeout=60)
    elapsed = time.monotonic() - started
    print(f"{real.runtime} {mode}: code -> failed {elapsed:.3f} s: {status['error']}")
    assert status["error"]["code"] == "exchange_failed"
    message = status["error"]["message"]
    if mode == "setup-token":
        assert message.startswith("OAuth error: Couldn't get an answer from the sign-in service")
    else:
        assert message.startswith("Couldn't log in: ")
        assert "platform.claude.com" in message or "EAI_AGAIN" in message
    assert elapsed < 50  # the CLI's own exchange timeout is 30 s
    wait_for(lambda: not cli_processes("claude-code"), timeout=15, what="the CLI to end")
