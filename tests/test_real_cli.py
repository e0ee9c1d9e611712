"""The real Claude Code CLIs driven through the broker, on both runtimes.

Every release in ``VF_REAL_CLI`` (scripts/test.sh: those in tests/cli-versions.txt,
the pin among them; ``make cli-drift``: one) runs on the local runtime; the pin also
runs in login containers. Real HTTP, real Celery, real Redis. The CLI has no network:
locally it runs in its own empty network namespace (``unshare --net``), in Docker
with network ``none``; nothing is sent to any outside host. The success path is in
``test_real_cli_success.py`` (a local sign-in server the CLI is pointed at).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.processes import cli_processes, wait_for
from tests.support.real_clis import pinned_version, real_clis
from tests.support.stack import running_stack
from tests.support.tiers import docker_tests

CLIS = real_clis()
pytestmark = pytest.mark.realcli
if not CLIS:
    pytest.skip("VF_REAL_CLI names the real CLIs (the README's test command sets it)",
                allow_module_level=True)

PLACES = [("local", cli) for cli in CLIS] + [
    ("docker", cli) for cli in CLIS
    if docker_tests() and cli.version == pinned_version()]
# Small bounds: the CLI answers within ~0.1 s here (no name resolves), so a session
# still `verifying` after this long is a defect, not a slow CLI.
QUICK = {"VF_EXCHANGE_TIMEOUT": "10", "VF_URL_TIMEOUT": "20"}


@pytest.fixture(scope="module", params=PLACES, ids=[f"{r}-{c.name}" for r, c in PLACES])
def real(request, databases, work_root):
    runtime, cli = request.param
    if runtime == "local":
        env, command = dict(QUICK), f"unshare --net -- {cli.path}"
    else:
        env = {**QUICK, "VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": "vaporforge/login:latest",
               "VF_DOCKER_NETWORK": "none"}
        command = "claude"
    with running_stack(databases, work_root, f"real-{runtime}-{cli.name}",
                       login_command=command, extra_env=env) as stack:
        stack.runtime, stack.cli = runtime, cli
        yield stack


def login_containers() -> list:
    if not docker_tests():
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
    print(f"{real.runtime} {real.cli.name} {mode}: create -> awaiting_code "
          f"{time.monotonic() - started:.3f} s")
    assert urlsplit(status["oauth_url"]).hostname == host
    assert_sign_in_url(status["oauth_url"], scope)
    assert real.call("DELETE", session).status_code == 204


@pytest.mark.parametrize("mode", ["oauth", "console"])
def test_each_reprompt_returns_to_awaiting_code_and_a_second_paste_still_works(real, mode):
    session = real.create(mode)
    first = real.wait_state(session, "awaiting_code", timeout=60)["oauth_url"]
    for pasted, sentence in real.cli.refusals().items():
        assert real.call("POST", session, "/code", json={"code": pasted}).status_code == 202
        status = real.wait_state(session, "awaiting_code", "failed", timeout=30)
        assert status["state"] == "awaiting_code", status
        assert status["error"] == {"code": "invalid_code", "message": sentence}
        assert status["oauth_url"] == first  # same CLI, same PKCE challenge
    real.call("POST", session, "/code", json={"code": "well-formed-code#state"})
    status = real.wait_state(session, "failed", timeout=45)
    assert status["error"]["code"] == "exchange_failed"
    assert status["error"]["message"].startswith(real.cli.failure_label)


def test_a_refused_setup_token_paste_returns_to_awaiting_code_and_the_next_is_read(real):
    """2.1.332 shows the refusal under its input box; 2.1.250–2.1.325 show it as an
    ``OAuth error`` and want Enter before the next paste."""
    session = real.create("setup-token")
    first = real.wait_state(session, "awaiting_code", timeout=60)["oauth_url"]
    assert real.call("POST", session, "/code", json={"code": "abc"}).status_code == 202
    status = real.wait_state(session, "awaiting_code", "failed", timeout=30)
    assert status["state"] == "awaiting_code", status
    assert status["error"] == {"code": "invalid_code", "message": real.cli.refusals()["abc"]}
    assert status["oauth_url"] == first
    real.call("POST", session, "/code", json={"code": "AbCdEfGh12345678#state-xyz"})
    status = real.wait_state(session, "failed", timeout=45)
    assert status["error"]["code"] == "exchange_failed"
    assert status["error"]["message"].startswith(real.cli.setup_token_offline)


@pytest.mark.parametrize("mode", ["oauth", "console", "setup-token"])
def test_a_code_the_sign_in_service_cannot_take_fails_in_bounded_time(real, mode):
    session = real.create(mode)
    real.wait_state(session, "awaiting_code", timeout=60)
    started = time.monotonic()
    real.call("POST", session, "/code", json={"code": "AbCdEfGh12345678#state-xyz"})
    status = real.wait_state(session, "failed", timeout=60)
    elapsed = time.monotonic() - started
    print(f"{real.runtime} {real.cli.name} {mode}: code -> failed {elapsed:.3f} s: "
          f"{status['error']}")
    assert status["error"]["code"] == "exchange_failed"
    message = status["error"]["message"]
    if mode == "setup-token":
        assert message.startswith(real.cli.setup_token_offline)
    else:
        assert message.startswith(real.cli.failure_label)
        assert "platform.claude.com" in message or "EAI_AGAIN" in message
    wait_for(lambda: not cli_processes("claude-code"), timeout=15, what="the CLI to end")
