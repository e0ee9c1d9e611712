"""`docker compose up --build` for real (VF_DOCKER_TESTS=1), on the test engine.

No registry is reachable here, so `scripts/docker-engine.sh compose-bases` makes
stand-ins for the registry images docker-compose.yml starts from (Python,
Redis, the login image's base) out of the debootstrap base, and the compose file
takes them through its VF_*_IMAGE variables. tests/compose.test.yml adds what
only the test needs: the simulator login image, login containers without
network, test image tags. One sealed login runs through the composed API, the
workers are scaled to two, and `down -v` leaves nothing behind. Timings are
printed (run with -s), never asserted.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
from joserfc import jwe
from joserfc.jwk import ECKey

from tests.support.cli_simulator import tokens_for
from tests.support.processes import free_port, wait_for

pytestmark = pytest.mark.docker

if os.environ.get("VF_DOCKER_TESTS") != "1":
    pytest.skip("VF_DOCKER_TESTS=1 runs the Docker tests", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
if not DOCKER_HOST.startswith("unix://"):
    pytest.skip("the compose worker mounts the engine's unix socket", allow_module_level=True)
if shutil.which("docker-compose"):
    COMPOSE = ["docker-compose"]
elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                               capture_output=True, check=False).returncode == 0:
    COMPOSE = ["docker", "compose"]
else:
    pytest.skip("no compose client (the test command installs docker-compose)",
                allow_module_level=True)
PROJECT_LABEL = "com.docker.compose.project"
DEPLOYMENT_LABEL = "vaporforge.deployment"


@dataclass
class Composed:
    project: str
    env: dict[str, str]
    api: str

    def compose(self, *args: str, timeout: float = 900) -> str:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "tests/compose.test.yml")]
        done = subprocess.run([*COMPOSE, "-p", self.project, *files, *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40")


def readyz(composed: Composed) -> dict:
    try:
        response = requests.get(composed.api + "/readyz", timeout=5)
    except requests.RequestException:
        return {}
    return response.json() if response.status_code == 200 else {}


def leftovers(engine: docker.DockerClient, composed: Composed) -> list[str]:
    """Containers and networks of this project, and login containers of its deployment."""
    project = {"label": f"{PROJECT_LABEL}={composed.project}"}
    found = [c["Names"][0] for c in engine.api.containers(all=True, filters=project)]
    found += [n["Name"] for n in engine.api.networks(filters=project)]
    logins = {"label": f"{DEPLOYMENT_LABEL}={composed.project}"}
    return found + [c["Id"][:12] for c in engine.api.containers(all=True, filters=logins)]


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def composed(engine: docker.DockerClient) -> Iterator[Composed]:
    started = time.monotonic()
    bases = subprocess.run(["bash", "scripts/docker-engine.sh", "compose-bases"], cwd=ROOT,
                           capture_output=True, text=True, timeout=900, check=False)
    assert bases.returncode == 0, bases.stderr
    print(f"compose: local base images in {time.monotonic() - started:.1f} s")
    exports = bases.stdout.strip().splitlines()[-1]
    assert exports.startswith("export ")
    project, port = f"vftest{uuid.uuid4().hex[:8]}", free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(pair.split("=", 1) for pair in shlex.split(exports)[1:])
    env.update(DOCKER_HOST=DOCKER_HOST, VF_API_PORT=str(port), VF_DEPLOYMENT=project,
               VF_DOCKER_SOCKET=DOCKER_HOST.removeprefix("unix://"))
    running = Composed(project, env, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        running.compose("down", "-v", "--remove-orphans", "-t", "5")


def test_compose_up_runs_a_login_scales_and_goes_down_clean(composed, engine):
    started = time.monotonic()
    composed.compose("up", "--build", "-d")
    print(f"compose: up --build in {time.monotonic() - started:.1f} s")
    try:
        ready = wait_for(lambda: readyz(composed).get("cli_versions", {}).get("docker"),
                         timeout=120, interval=0.5, what="the composed API and a worker")
    except AssertionError:
        raise AssertionError(composed.logs()) from None
    assert ready.startswith((ROOT / "CLAUDE_CODE_VERSION").read_text().strip())
    assert readyz(composed)["workers"] == 1
    print(f"compose: up to ready in {time.monotonic() - started:.1f} s")

    key = ECKey.generate_key("P-256")
    sessions = composed.api + "/api/auth/sessions"
    created = requests.post(sessions, json={"mode": "oauth", "client_public_key":
                                            key.as_dict(private=False)}, timeout=10)
    assert created.status_code == 202, created.text
    session = created.json()
    url = f"{sessions}/{session['session_id']}"
    auth = {"Authorization": f"Bearer {session['session_token']}"}

    def state(*wanted: str) -> dict | None:
        body = requests.get(url, headers=auth, timeout=10).json()
        assert body["state"] not in ("failed", "expired", "cancelled"), body
        return body if body["state"] in wanted else None

    waiting = wait_for(lambda: state("awaiting_code"), timeout=60, interval=0.25,
                       what="awaiting_code")
    assert waiting["oauth_url"].startswith("https://claude.com/cai/oauth/authorize?")
    # The login container carries the stack's deployment name (VF_DEPLOYMENT).
    logins = engine.api.containers(filters={"label": [
        f"{DEPLOYMENT_LABEL}={composed.project}", f"vaporforge.session={session['session_id']}"]})
    assert len(logins) == 1
    code = f"compose-code-{uuid.uuid4().hex}#state"
    sent = requests.post(url + "/code", headers=auth, json={"code": code}, timeout=10)
    assert sent.status_code == 202, sent.text
    wait_for(lambda: state("ready"), timeout=60, interval=0.25, what="ready")
    claimed = requests.post(url + "/credentials", headers=auth, timeout=10)
    assert claimed.status_code == 200, claimed.text
    plain = json.loads(jwe.decrypt_compact(claimed.json()["jwe"], key).plaintext)
    assert plain["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]
    assert requests.post(url + "/credentials", headers=auth, timeout=10).status_code == 410
    print(f"compose: one login through the stack by {time.monotonic() - started:.1f} s")

    composed.compose("up", "-d", "--no-build", "--no-deps", "--scale", "worker=2", "worker")
    wait_for(lambda: readyz(composed).get("workers") == 2, timeout=90, interval=0.5,
             what="two workers to register")
    print(f"compose: two workers by {time.monotonic() - started:.1f} s")

    composed.compose("down", "-v", "-t", "5")
    assert leftovers(engine, composed) == []
    print(f"compose: down by {time.monotonic() - started:.1f} s")
