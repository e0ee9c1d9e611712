"""The whole success path with the real CLIs, through the broker (local runtime).

Every release in ``VF_REAL_CLI`` (see tests/support/real_clis.py) on the local runtime; the
pinned one in login containers too.

The CLI runs inside a private network+mount namespace (tests/netns_run.sh) that
has only loopback, where the sign-in hosts resolve to 127.0.0.1 and
tests/support/fake_oauth/ (``--strict``: it checks PKCE, redirect_uri,
client_id and code reuse) answers with a test CA the CLI trusts through
NODE_EXTRA_CA_CERTS. The worker enters that namespace with ``nsenter`` for each
CLI it spawns; the "browser" step (opening the published URL and reading the
code its last page shows) runs in the same namespace. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fake_oauth import tokens_for_code
from tests.support.processes import wait_for
from tests.support.real_clis import pinned_version, real_clis
from tests.support.stack import running_stack
from tests.support.tiers import docker_tests

CLIS = real_clis()
pytestmark = pytest.mark.realcli
if not CLIS:
    pytest.skip("VF_REAL_CLI names the real CLIs (the README's test command sets it)",
                allow_module_level=True)
if os.geteuid() != 0 or not shutil.which("nsenter"):
    pytest.skip("needs root and nsenter for a test network namespace", allow_module_level=True)

HERE = Path(__file__).resolve().parent
# The user's browser: open the published URL (on 127.0.0.1, with the URL's host for
# TLS and HTTP) and read the code the sign-in page shows.
BROWSER = """
import json, socket, ssl, sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", 443), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=url.hostname) as tls:
        tls.sendall(f"GET {url.path}?{url.query} HTTP/1.1\\r\\nHost: {url.hostname}\\r\\n"
                    "Connection: close\\r\\n\\r\\n".encode())
        data = b"".join(iter(lambda: tls.recv(65536), b""))
print(json.loads(data.split(b"\\r\\n\\r\\n", 1)[1])["paste"])
"""


@pytest.fixture(scope="module")
def sign_in_namespace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("signin")
    pid_file = folder / "ns.pid"
    holder = subprocess.Popen(
        ["bash", str(HERE / "netns_run.sh"), "--certdir", str(folder / "certs"),
         "--log", str(folder / "requests.jsonl"), "--strict", "--",
         "sh", "-c", f"echo $$ > {pid_file}; exec sleep 3600"],
        env={**os.environ, "PYTHON": sys.executable}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=30,
             what="the sign-in namespace")
    yield int(pid_file.read_text()), folder
    os.killpg(holder.pid, signal.SIGTERM)
    holder.wait(10)


@pytest.fixture(scope="module", params=CLIS, ids=[cli.name for cli in CLIS])
def real_ok(request, databases, work_root, sign_in_namespace):
    pid, folder = sign_in_namespace
    ca = folder / "certs" / "ca.pem"
    cli = request.param
    with running_stack(
        databases, work_root, f"real-ok-{cli.name}",
        login_command=f"nsenter --target {pid} --net --mount -- {cli.path}",
        extra_env={"VF_LOGIN_ENV": f"NODE_EXTRA_CA_CERTS={ca} "
                                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                   "VF_EXCHANGE_TIMEOUT": "15"}) as stack:
        stack.cli = cli
        stack.browse = lambda url: subprocess.run(
            ["nsenter", "--target", str(pid), "--net", "--mount", "--", sys.executable, "-c",
             BROWSER, url, str(ca)], capture_output=True, text=True, check=True,
            timeout=30).stdout.strip()
        stack.requests = lambda: [json.loads(line) for line in
                                  (folder / "requests.jsonl").read_text().splitlines()]
        yield stack


def sign_in(stack, mode: str, account: str = "") -> tuple[dict, str]:
    session = stack.create(mode)
    url = stack.wait_state(session, "awaiting_code", timeout=60)["oauth_url"]
    paste = stack.browse(url + (f"&fake_account={account}" if account else ""))
    assert stack.call("POST", session, "/code", json={"code": paste}).status_code == 202
    status = stack.wait_state(session, "ready", "failed", timeout=60)
    assert status["state"] == "ready", status
    return session, paste


def test_auth_login_credentials_are_what_the_cli_wrote(real_ok):
    session, paste = sign_in(real_ok, "oauth")
    body = real_ok.call("POST", session, "/credentials").json()
    oauth = body["credentials"]["claudeAiOauth"]
    expected = tokens_for_code(paste)
    assert body["mode"] == "oauth"
    assert oauth["accessToken"] == expected["access_token"]
    assert oauth["refreshToken"] == expected["refresh_token"]
    assert "user:inference" in oauth["scopes"] and oauth["expiresAt"] > 0
    assert real_ok.call("POST", session, "/credentials").status_code == 410
    token_calls = [r for r in real_ok.requests() if r.get("path") == "/v1/oauth/token"]
    assert token_calls and token_calls[-1]["status"] == 200


def test_setup_token_prints_a_token_that_is_handed_out(real_ok):
    session, paste = sign_in(real_ok, "setup-token")
    body = real_ok.call("POST", session, "/credentials").json()
    assert body == {"mode": "setup-token",
                    "credentials": {"oauth_token": tokens_for_code(paste)["access_token"]}}


def test_console_login_with_a_subscription_grant(real_ok):
    session, paste = sign_in(real_ok, "console")
    body = real_ok.call("POST", session, "/credentials").json()
    assert body["credentials"]["claudeAiOauth"]["accessToken"] == \
        tokens_for_code(paste)["access_token"]


def test_console_login_of_an_api_billing_account_hands_out_its_api_key(real_ok):
    session, paste = sign_in(real_ok, "console", account="console")
    body = real_ok.call("POST", session, "/credentials").json()
    assert body["mode"] == "console"
    assert body["api_key"] == tokens_for_code(paste)["api_key"]


def test_a_code_the_service_rejects_fails_with_the_clis_reason(real_ok):
    session = real_ok.create("oauth")
    real_ok.wait_state(session, "awaiting_code", timeout=60)
    real_ok.call("POST", session, "/code", json={"code": "bad-code-0123456789#state"})
    status = real_ok.wait_state(session, "failed", timeout=60)
    assert status["error"]["code"] == "exchange_failed"
    assert status["error"]["message"].startswith(real_ok.cli.failure_label)


# -- the same, in login containers ------------------------------------------------
SIGN_IN_HOSTS = ("claude.com", "claude.ai", "platform.claude.com", "api.anthropic.com")
CA_IN_IMAGE = "/etc/vaporforge-test-ca.pem"
docker_only = pytest.mark.skipif(
    not docker_tests()
    or all(cli.version != pinned_version() for cli in CLIS),
    reason="VF_DOCKER_TESTS=1 and the pinned CLI run the Docker tests (the image has the pin)")


@pytest.fixture(scope="module")
def docker_ok(databases, work_root, tmp_path_factory):
    """Login containers (network none) from the login image plus the test CA; the
    sign-in hosts point at 127.0.0.1 inside them, where each test starts the fake
    server in that container's own network namespace."""
    import docker

    from tests.support.fake_oauth import make_certs

    folder = tmp_path_factory.mktemp("docker-signin")
    certs = make_certs(str(folder / "certs"), [*SIGN_IN_HOSTS, "localhost"])
    context = folder / "image"
    context.mkdir()
    shutil.copy(certs["ca"], context / "ca.pem")
    (context / "Dockerfile").write_text(
        f"FROM vaporforge/login:latest\nCOPY ca.pem {CA_IN_IMAGE}\n")
    engine = docker.from_env()
    engine.images.build(path=str(context), tag="vaporforge/login-fake-ca:test", rm=True)
    with running_stack(
        databases, work_root, "docker-ok", login_command="claude",
        extra_env={"VF_RUNTIME": "docker", "VF_LOGIN_IMAGE": "vaporforge/login-fake-ca:test",
                   "VF_DOCKER_NETWORK": "none",
                   "VF_DOCKER_EXTRA_HOSTS": ",".join(f"{h}:127.0.0.1" for h in SIGN_IN_HOSTS),
                   "VF_LOGIN_ENV": f"NODE_EXTRA_CA_CERTS={CA_IN_IMAGE} "
                                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}) as stack:
        stack.engine, stack.certs = engine, certs
        yield stack
    engine.close()


def sign_in_container(stack, mode: str, account: str = "") -> tuple[dict, str]:
    session = stack.create(mode)
    url = stack.wait_state(session, "awaiting_code", timeout=60)["oauth_url"]
    (container,) = stack.engine.api.containers(
        filters={"label": f"vaporforge.session={session['session_id']}"})
    pid = str(stack.engine.api.inspect_container(container["Id"])["State"]["Pid"])
    enter = ["nsenter", "--target", pid, "--net", "--"]
    server = subprocess.Popen(
        [*enter, sys.executable, "-m", "tests.support.fake_oauth", "--host", "127.0.0.1",
         "--port", "443", "--certdir", str(Path(stack.certs["ca"]).parent), "--strict",
         "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "listening" in (server.stdout.readline() if server.stdout else "")
        paste = subprocess.run([*enter, sys.executable, "-c", BROWSER,
                                url + (f"&fake_account={account}" if account else ""),
                                stack.certs["ca"]], capture_output=True, text=True,
                               check=True, timeout=30).stdout.strip()
        assert stack.call("POST", session, "/code", json={"code": paste}).status_code == 202
        status = stack.wait_state(session, "ready", "failed", timeout=60)
    finally:
        server.terminate()
        server.wait(10)
    assert status["state"] == "ready", status
    return session, paste


@docker_only
@pytest.mark.parametrize("mode", ["oauth", "console"])
def test_container_auth_login_credentials(docker_ok, mode):
    session, paste = sign_in_container(docker_ok, mode)
    body = docker_ok.call("POST", session, "/credentials").json()
    oauth = body["credentials"]["claudeAiOauth"]
    assert oauth["accessToken"] == tokens_for_code(paste)["access_token"]
    assert oauth["refreshToken"] == tokens_for_code(paste)["refresh_token"]


@docker_only
def test_container_setup_token(docker_ok):
    session, paste = sign_in_container(docker_ok, "setup-token")
    body = docker_ok.call("POST", session, "/credentials").json()
    assert body["credentials"] == {"oauth_token": tokens_for_code(paste)["access_token"]}


@docker_only
def test_container_console_api_key(docker_ok):
    session, paste = sign_in_container(docker_ok, "console", account="console")
    body = docker_ok.call("POST", session, "/credentials").json()
    assert body["api_key"] == tokens_for_code(paste)["api_key"]
