"""The Docker runtime on a real Docker engine (VF_DOCKER_TESTS=1).

The login-test image is the login image plus python3 and the CLI simulator;
containers use network ``none``: no test traffic leaves the machine.
"""

from __future__ import annotations

import os
import time

import docker
import pytest

from tests.support.cli_simulator import tokens_for
from tests.support.processes import wait_for
from tests.support.stack import start_stack, stop_stack

pytestmark = pytest.mark.docker

if os.environ.get("VF_DOCKER_TESTS") != "1":
    pytest.skip("VF_DOCKER_TESTS=1 runs the Docker tests", allow_module_level=True)

IMAGE = os.environ.get("VF_TEST_LOGIN_IMAGE", "vaporforge/login-test:latest")
LABEL = "vaporforge.session"


@pytest.fixture(scope="module")
def engine():
    client = docker.from_env()
    assert client.ping()
    yield client
    client.close()


def login_containers(engine, session_id: str | None = None) -> list:
    label = LABEL if session_id is None else f"{LABEL}={session_id}"
    # the low-level list: no per-container inspect that races with removal
    return engine.api.containers(all=True, filters={"label": label})


@pytest.fixture(scope="module")
def docker_stack(databases, work_root, engine):
    running = start_stack(
        databases.allocate(), work_root, "docker",
        login_command="python3 /opt/vaporforge/cli_simulator.py",
        extra_env={"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": IMAGE,
                   "VF_DOCKER_NETWORK": "none", "VF_SESSION_TTL": "10",
                   "VF_DOCKER_MEMORY": "256m", "VF_DOCKER_PIDS": "64"})
    yield running
    stop_stack(running)


@pytest.fixture(autouse=True)
def no_container_left(engine):
    yield
    wait_for(lambda: not login_containers(engine), timeout=30,
             what="every login container to be removed")


def test_full_flow_in_a_login_container(docker_stack, engine):
    started = time.monotonic()
    session = docker_stack.create("oauth")
    status = docker_stack.wait_state(session, "awaiting_code", timeout=30)
    print(f"docker: create -> awaiting_code {time.monotonic() - started:.3f} s")
    assert status["oauth_url"].startswith("https://claude.com/cai/oauth/authorize?")
    assert len(login_containers(engine, session["session_id"])) == 1
    code = "docker-code-0123456789#state"
    docker_stack.call("POST", session, "/code", json={"code": code})
    docker_stack.wait_state(session, "ready", timeout=30)
    body = docker_stack.call("POST", session, "/credentials").json()
    assert body["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]
    assert docker_stack.call("POST", session, "/credentials").status_code == 410


def test_setup_token_in_a_login_container(docker_stack):
    session = docker_stack.create("setup-token")
    docker_stack.wait_state(session, "awaiting_code", timeout=30)
    code = "Xdocker-setup-token#state"
    docker_stack.call("POST", session, "/code", json={"code": code})
    docker_stack.wait_state(session, "ready", timeout=30)
    body = docker_stack.call("POST", session, "/credentials").json()
    assert body["credentials"] == {"oauth_token": tokens_for(code)["access"]}


def test_live_login_container_is_locked_down(docker_stack, engine):
    session = docker_stack.create("oauth")
    docker_stack.wait_state(session, "awaiting_code", timeout=30)
    (container,) = login_containers(engine, session["session_id"])
    attrs = engine.api.inspect_container(container["Id"])
    host, config = attrs["HostConfig"], attrs["Config"]
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not any("unconfined" in opt for opt in host["SecurityOpt"])
    assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
    assert host["Memory"] == 256 * 1024 * 1024 and host["PidsLimit"] == 64
    assert host["NanoCpus"] > 0
    assert not host.get("Binds") and not attrs.get("Mounts")
    assert host["NetworkMode"] == "none"
    home = host["Tmpfs"]["/home/login"]
    assert "noexec" in home and "nosuid" in home
    assert config["User"] not in ("", "0", "root") and not config["User"].startswith("0:")
    labels = config["Labels"]
    assert labels["vaporforge.session"] == session["session_id"]
    assert int(labels["vaporforge.expires_at"]) > time.time()
    assert not any("docker.sock" in str(m) for m in attrs.get("Mounts", []))
    docker_stack.call("DELETE", session)


@pytest.mark.parametrize("ending", ["failure", "cancel", "expiry"])
def test_no_container_remains(docker_stack, engine, ending):
    session = docker_stack.create("oauth")
    docker_stack.wait_state(session, "awaiting_code", timeout=30)
    assert login_containers(engine, session["session_id"])
    if ending == "failure":
        docker_stack.call("POST", session, "/code", json={"code": "please-fail#state"})
        assert docker_stack.wait_state(session, "failed")["error"]["code"] == "exchange_failed"
    elif ending == "cancel":
        assert docker_stack.call("DELETE", session).status_code == 204
    else:
        assert docker_stack.wait_state(session, "expired", timeout=40)["state"] == "expired"
    wait_for(lambda: not login_containers(engine, session["session_id"]), timeout=20,
             what="the login container to go")


def test_readyz_reports_the_clis_version_in_the_image(docker_stack):
    import requests
    body = wait_for(lambda: requests.get(docker_stack.url("/readyz"), timeout=5).json()
                    .get("cli_versions", {}).get("docker"), what="the docker CLI version")
    assert body.startswith("2.1.332")
