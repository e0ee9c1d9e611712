"""The warm pool with the real, pinned CLI, locally and in login containers: a
session takes a CLI that already shows its full URL, then reaches the CLI's own
invalid_code and exchange_failed paths. No network: as in test_real_cli.py."""

from __future__ import annotations

import pytest
import requests
from test_real_cli import QUICK, assert_sign_in_url, login_containers

from tests.support.processes import cli_processes, wait_for
from tests.support.real_clis import pinned_version, real_clis
from tests.support.stack import running_stack
from tests.support.tiers import docker_tests

PINNED = [cli for cli in real_clis() if cli.version == pinned_version()]
pytestmark = [pytest.mark.realcli, pytest.mark.keeps_warm_entries]
if not PINNED:
    pytest.skip("VF_REAL_CLI names the real CLIs (the README's test command sets it)",
                allow_module_level=True)
RUNTIMES = ["local"] + (["docker"] if docker_tests() else [])


@pytest.fixture(scope="module", params=RUNTIMES)
def warm_real(request, databases, work_root):
    env = {**QUICK, "VF_WARM_POOL": "oauth:1,setup-token:1"}
    if request.param == "local":
        command = f"unshare --net -- {PINNED[0].path}"
    else:
        env.update(VF_RUNTIME="docker", VF_LOGIN_IMAGE="vaporforge/login:latest",
                   VF_DOCKER_NETWORK="none")
        command = "claude"
    with running_stack(databases, work_root, f"warm-real-{request.param}",
                       login_command=command, extra_env=env) as stack:
        wait_for(lambda: requests.get(stack.url("/readyz"), timeout=5).json()["warm"] == {
            "oauth": 1, "console": 0, "setup-token": 1}, timeout=60, what="the warm pool")
        yield stack
    # the block's end drains: every warm CLI and container is withdrawn and removed
    assert not cli_processes("claude-code", within=stack.work_dir)
    assert not login_containers()
    assert not list(stack.work_dir.iterdir())


def take_warm(stack, mode: str) -> dict:
    wait_for(lambda: requests.get(stack.url("/readyz"), timeout=5).json()["warm"][mode] == 1,
             timeout=60, what="a warm entry")
    session = stack.create(mode)
    assert session["state"] == "awaiting_code"  # at once, with the warm CLI's URL
    return session


def test_a_warm_cli_shows_its_full_url_and_refuses_a_bad_paste(warm_real):
    session = take_warm(warm_real, "oauth")
    assert_sign_in_url(session["oauth_url"], "user:sessions:claude_code")
    warm_real.call("POST", session, "/code", json={"code": "abc"})
    status = warm_real.wait_state(session, "awaiting_code", "failed", timeout=30)
    assert status["error"]["code"] == "invalid_code", status
    warm_real.call("POST", session, "/code", json={"code": "abc#def"})
    status = warm_real.wait_state(session, "failed", timeout=30)
    assert status["error"]["code"] == "exchange_failed"


def test_a_warm_setup_token_cli_fails_the_exchange_with_its_own_words(warm_real):
    session = take_warm(warm_real, "setup-token")
    assert_sign_in_url(session["oauth_url"], "user:inference")
    warm_real.call("POST", session, "/code", json={"code": "well-formed-code-0123#state"})
    status = warm_real.wait_state(session, "failed", timeout=30)
    assert status["error"]["code"] == "exchange_failed"
    assert status["error"]["message"]
