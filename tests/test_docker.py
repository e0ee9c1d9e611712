"""The Docker runtime on a real Docker engine (VF_DOCKER_TESTS=1), under runc
(the engine's default) and under gVisor (``runsc``; see tests/support/oci_runtimes.py).

The login-test image is the login image plus python3 and the CLI simulator;
containers use network ``none``: no test traffic leaves the machine. The real,
pinned CLI (the login image) reaches its URL under gVisor too; under runc it is
driven in test_real_cli.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import docker
import pytest

from tests.support.cli_simulator import tokens_for
from tests.support.oci_runtimes import PIDS, RUNTIMES, engine_setting, require_runtime
from tests.support.processes import wait_for
from tests.support.stack import running_stack
from tests.support.tiers import require_docker

pytestmark = pytest.mark.docker

require_docker()

IMAGE = os.environ.get("VF_TEST_LOGIN_IMAGE", "vaporforge/login-test:latest")
LABEL = "vaporforge.session"
VERSION = (Path(__file__).resolve().parent.parent / "CLAUDE_CODE_VERSION").read_text().strip()


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


@pytest.fixture(scope="module", params=RUNTIMES)
def docker_stack(request, databases, work_root, engine):
    runtime = request.param
    require_runtime(engine, runtime)
    with running_stack(
        databases, work_root, f"docker-{runtime}",
        login_command="python3 /opt/vaporforge/cli_simulator.py",
        extra_env={"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": IMAGE,
                   "VF_DOCKER_NETWORK": "none", "VF_SESSION_TTL": "10",
                   "VF_DOCKER_MEMORY": "256m", "VF_DOCKER_PIDS": str(PIDS[runtime]),
                   "VF_DOCKER_RUNTIME": engine_setting(runtime)}) as running:
        running.runtime = runtime
        yield running


@pytest.fixture(autouse=True)
def no_container_left(engine):
    yield
    wait_for(lambda: not login_containers(engine), timeout=30,
             what="every login container to be removed")


def test_full_flow_in_a_login_container(docker_stack, engine):
    started = time.monotonic()
    session = docker_stack.create("oauth")
    status = docker_stack.wait_state(session, "awaiting_code", timeout=30)
    print(f"docker {docker_stack.runtime}: create -> awaiting_code "
          f"{time.monotonic() - started:.3f} s")
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


def inside(engine, container_id: str, script: str) -> tuple[int, str]:
    """Run ``script`` with sh in the container as its user; (exit code, output)."""
    exec_id = engine.api.exec_create(container_id, ["/bin/sh", "-c", script])["Id"]
    out = engine.api.exec_start(exec_id).decode("utf-8", "replace").strip()
    return engine.api.exec_inspect(exec_id)["ExitCode"], out


def test_live_login_container_is_locked_down(docker_stack, engine):
    runtime = docker_stack.runtime
    session = docker_stack.create("oauth")
    docker_stack.wait_state(session, "awaiting_code", timeout=30)
    (container,) = login_containers(engine, session["session_id"])
    attrs = engine.api.inspect_container(container["Id"])
    host, config = attrs["HostConfig"], attrs["Config"]
    assert host["Runtime"] == runtime
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not any("unconfined" in opt for opt in host["SecurityOpt"])
    assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
    assert host["Memory"] == 256 * 1024 * 1024 and host["PidsLimit"] == PIDS[runtime]
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

    # From inside, as the CLI sees it (the same under both runtimes) ...
    cid = container["Id"]
    assert inside(engine, cid, "id -u") == (0, "10001")
    status = dict(line.split(":\t", 1) for line in
                  inside(engine, cid, "cat /proc/self/status")[1].splitlines() if ":\t" in line)
    assert status["CapEff"] == status["CapBnd"] == status["CapPrm"] == "0" * 16
    assert inside(engine, cid, "touch /etc/vf-probe")[0] != 0  # read-only root
    assert inside(engine, cid, "cp /bin/true /home/login/t && /home/login/t")[0] == 126
    assert inside(engine, cid, "awk 'NR > 2 { print $1 }' /proc/net/dev") == (0, "lo:")
    assert inside(engine, cid, "ulimit -c") == (0, "0")
    assert inside(engine, cid, "test -e /var/run/docker.sock")[0] != 0
    # ... and what differs: gVisor answers with its own kernel, and Docker's seccomp
    # profile and no_new_privs apply to the Sentry on the host, not inside.
    kernel = inside(engine, cid, "uname -r")[1]
    if runtime == "runsc":
        assert kernel != os.uname().release
        assert "gVisor" in inside(engine, cid, "dmesg")[1]
        assert "NoNewPrivs" not in status and status["Seccomp"] == "0"
    else:
        assert kernel == os.uname().release
        assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
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
    assert body.startswith(VERSION)


@pytest.fixture(scope="module", params=["runsc"])
def real_cli_stack(request, databases, work_root, engine):
    """The real, pinned CLI (vaporforge/login:<pin>) in login containers under
    ``runsc``; under runc test_real_cli.py drives it."""
    runtime = request.param
    require_runtime(engine, runtime)
    with running_stack(
        databases, work_root, f"docker-real-{runtime}", login_command="claude",
        extra_env={"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": f"vaporforge/login:{VERSION}",
                   "VF_DOCKER_NETWORK": "none", "VF_DOCKER_RUNTIME": engine_setting(runtime),
                   "VF_EXCHANGE_TIMEOUT": "10", "VF_URL_TIMEOUT": "20"}) as running:
        running.runtime = runtime
        yield running


@pytest.mark.parametrize(("mode", "scope"), [("oauth", "user:sessions:claude_code"),
                                             ("setup-token", "user:inference")])
def test_the_real_cli_reaches_its_url(real_cli_stack, engine, mode, scope):
    started = time.monotonic()
    session = real_cli_stack.create(mode)
    status = real_cli_stack.wait_state(session, "awaiting_code", timeout=60)
    print(f"docker {real_cli_stack.runtime} real CLI {mode}: create -> awaiting_code "
          f"{time.monotonic() - started:.3f} s")
    (container,) = login_containers(engine, session["session_id"])
    assert engine.api.inspect_container(container["Id"])["HostConfig"]["Runtime"] == \
        real_cli_stack.runtime
    url = urlsplit(status["oauth_url"])
    query = parse_qs(url.query)
    assert url.scheme == "https" and url.hostname == "claude.com"
    assert url.path.endswith("/oauth/authorize") and query["code_challenge"][0]
    assert scope in query["scope"][0].split()
    if mode == "oauth":  # no network in the sandbox: the CLI's own exchange failure
        real_cli_stack.call("POST", session, "/code", json={"code": "AbCdEfGh12345678#state"})
        status = real_cli_stack.wait_state(session, "failed", timeout=45)
        assert status["error"]["code"] == "exchange_failed", status
    else:
        assert real_cli_stack.call("DELETE", session).status_code == 204
