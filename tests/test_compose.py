"""`docker compose up --build` for real (VF_DOCKER_TESTS=1), on the test engine.

No registry is reachable here, so `scripts/docker-engine.sh compose-bases` makes
stand-ins for the registry images docker-compose.yml starts from (Python,
Redis, Debian for the edge, the login image's base) out of the debootstrap base,
and the compose file takes them through its VF_*_IMAGE variables.
tests/compose.test.yml adds what only the test needs: the simulator login image,
login containers without network, test image tags. The images the stack builds
(broker, edge, login) are removed first, as a machine that never built them has
none: `up --build` must not pull one. The stack runs with a
self-signed certificate made here, so everything goes through the edge over
https: one sealed login (its containers made through the socket proxy), the
edge's limits (slow-header clients, a 1 MB body), the private operations data,
the socket proxy's refusals; the observability profile's Prometheus scrapes the
stack, and every dashboard and alert query runs against it after a few logins; then
the workers are scaled to two (Prometheus follows), and `down -v` leaves nothing
behind. Timings are printed (run with -s), never asserted.
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwe
from joserfc.jwk import ECKey

from tests.support.cli_simulator import tokens_for
from tests.support.processes import free_port, wait_for
from tests.test_alerts import alerts
from tests.test_dashboard import alert_expressions, metric_names, panel_expressions

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
BUILT_REPOSITORIES = ("vaporforge/broker", "vaporforge/edge", "vaporforge/prometheus")
"""Images only the compose file builds: every tag of theirs goes before the test."""
DEPLOYMENT_LABEL = "vaporforge.deployment"


METRICS_TOKEN = uuid.uuid4().hex
PROMETHEUS_INTERVAL = 2.0
"""Seconds between the observability profile's scrapes (VF_PROMETHEUS_INTERVAL)."""
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass
class Composed:
    project: str
    env: dict[str, str]
    api: str  # the edge's https address
    http: str  # the edge's http address (redirects to api)
    ca: str  # the self-signed certificate, for requests' verify

    def compose(self, *args: str, timeout: float = 900) -> str:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "tests/compose.test.yml")]
        # The observability profile (Prometheus) is part of the test stack.
        done = subprocess.run([*COMPOSE, "--profile", "observability", "-p", self.project,
                               *files, *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"compose {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40")


    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.api + path, verify=self.ca, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.api + path, verify=self.ca, timeout=10, **kwargs)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).split()[0]


def readyz(composed: Composed) -> dict:
    """The details of /readyz, as an operator (the metrics token) sees them."""
    try:
        response = composed.get("/readyz", headers=OPERATOR)
    except requests.RequestException:
        return {}
    return response.json() if response.status_code == 200 else {}


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key (readable by nginx's user)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vaporforge compose test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o644)  # nginx runs as www-data; a throwaway test key
    folder.chmod(0o755)
    return cert_file, key_file


def built_tags() -> set[str]:
    """The tags `up --build` makes under tests/compose.test.yml: every service that
    builds, with the image name the override gives it."""
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    override = yaml.safe_load((ROOT / "tests/compose.test.yml").read_text())["services"]
    return {override[name]["image"] for name, svc in base.items() if "build" in svc}


def remove_built_images(engine: docker.DockerClient) -> list[str]:
    """Untag what a fresh machine does not have: every broker and edge tag and the
    tags the test's `up --build` makes (never vaporforge/login-test, vaporforge/base
    or the compose-bases stand-ins, which other tests use). Forced, so an image a
    container still runs is untagged, not kept; without pruning, so the untagged
    parent layers stay as the build cache. Returns the tags removed."""
    doomed = built_tags()
    removed = []
    for image in engine.images.list():
        for tag in image.tags:
            if tag.rsplit(":", 1)[0] in BUILT_REPOSITORIES or tag in doomed:
                engine.api.remove_image(tag, force=True, noprune=True)
                removed.append(tag)
    left = [tag for image in engine.images.list() for tag in image.tags
            if tag.rsplit(":", 1)[0] in BUILT_REPOSITORIES or tag in doomed]
    assert left == [], left
    return sorted(removed)


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
def composed(engine: docker.DockerClient, tmp_path_factory) -> Iterator[Composed]:
    started = time.monotonic()
    bases = subprocess.run(["bash", "scripts/docker-engine.sh", "compose-bases"], cwd=ROOT,
                           capture_output=True, text=True, timeout=900, check=False)
    assert bases.returncode == 0, bases.stderr
    print(f"compose: local base images in {time.monotonic() - started:.1f} s")
    exports = bases.stdout.strip().splitlines()[-1]
    assert exports.startswith("export ")
    # As on a machine that never built them: `up --build` must not need them (issue 20).
    print(f"compose: removed the images the stack builds: {remove_built_images(engine)}")
    project, http_port, https_port = f"vftest{uuid.uuid4().hex[:8]}", free_port(), free_port()
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(pair.split("=", 1) for pair in shlex.split(exports)[1:])
    env.update(DOCKER_HOST=DOCKER_HOST, VF_HTTP_PORT=str(http_port),
               VF_HTTPS_PORT=str(https_port), VF_TLS_CERT=str(cert), VF_TLS_KEY=str(key),
               VF_METRICS_TOKEN=METRICS_TOKEN, VF_DEPLOYMENT=project,
               VF_DOCKER_SOCKET=DOCKER_HOST.removeprefix("unix://"),
               VF_PROMETHEUS_INTERVAL=f"{PROMETHEUS_INTERVAL:g}s")
    env.pop("VF_API_PORT", None)
    running = Composed(project, env, f"https://127.0.0.1:{https_port}",
                       f"http://127.0.0.1:{http_port}", str(cert))
    try:
        yield running
    finally:
        running.compose("down", "-v", "--remove-orphans", "-t", "5")


def test_compose_up_runs_a_login_through_the_edge_and_the_socket_proxy(composed, engine):
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
                                            key.as_dict(private=False)}, timeout=10,
                            verify=composed.ca)
    assert created.status_code == 202, created.text
    session = created.json()
    url = f"{sessions}/{session['session_id']}"
    auth = {"Authorization": f"Bearer {session['session_token']}"}

    def state(*wanted: str) -> dict | None:
        body = requests.get(url, headers=auth, timeout=10, verify=composed.ca).json()
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
    sent = requests.post(url + "/code", headers=auth, json={"code": code}, timeout=10,
                         verify=composed.ca)
    assert sent.status_code == 202, sent.text
    wait_for(lambda: state("ready"), timeout=60, interval=0.25, what="ready")
    claimed = requests.post(url + "/credentials", headers=auth, timeout=10, verify=composed.ca)
    assert claimed.status_code == 200, claimed.text
    plain = json.loads(jwe.decrypt_compact(claimed.json()["jwe"], key).plaintext)
    assert plain["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]
    assert requests.post(url + "/credentials", headers=auth, timeout=10,
                         verify=composed.ca).status_code == 410
    print(f"compose: one login through the stack by {time.monotonic() - started:.1f} s")


def test_only_the_edge_publishes_ports_and_it_redirects_http_to_https(composed, engine):
    for service in ("api", "worker", "redis", "docker-proxy", "prometheus"):
        ports = engine.api.inspect_container(composed.container(service))["NetworkSettings"]
        assert not any((ports.get("Ports") or {}).values()), service
    edge = engine.api.inspect_container(composed.container("edge"))["NetworkSettings"]["Ports"]
    assert sorted(edge) == ["8080/tcp", "8443/tcp"]

    page = composed.get("/healthz")
    assert page.status_code == 200 and page.json() == {"status": "ok"}
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    # The Connect page and its module over https: WebCrypto's secure context.
    connect = composed.get("/")
    assert connect.status_code == 200 and connect.headers["Content-Type"].startswith("text/html")
    assert "Connect your Claude account" in connect.text
    module = composed.get("/static/vaporforge-connect.js")
    assert module.status_code == 200 and "javascript" in module.headers["Content-Type"]
    moved = requests.get(composed.http + "/healthz?x=1", allow_redirects=False, timeout=10)
    assert moved.status_code == 308
    assert moved.headers["Location"] == composed.api + "/healthz?x=1"
    assert "Strict-Transport-Security" not in moved.headers  # never over plain http


def test_the_edge_refuses_a_1_mb_body_with_413(composed):
    refused = composed.post("/api/auth/sessions", data=b"{" + b" " * 1_000_000 + b"}",
                            headers={"Content-Type": "application/json"})
    assert refused.status_code == 413
    assert refused.headers["Server"] == "nginx"  # gunicorn never saw it
    assert refused.json()["error"]["code"] == "payload_too_large"


def test_operations_data_is_private_from_outside(composed):
    # From the host, through the edge: outside the compose network.
    hidden = composed.get("/metrics")
    assert hidden.status_code == 404 and "vaporforge" not in hidden.text
    assert composed.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    scraped = composed.get("/metrics", headers=OPERATOR)
    assert scraped.status_code == 200 and "vaporforge_capacity_slots" in scraped.text
    assert composed.get("/readyz").json() == {"status": "ready"}
    assert readyz(composed)["workers"] == 1
    # The worker's metrics port: not published, and private on the network too.
    worker = composed.container("worker")
    scrape = ("import sys, urllib.request, urllib.error\n"
              "request = urllib.request.Request('http://127.0.0.1:9808/metrics', headers={h})\n"
              "try: print(urllib.request.urlopen(request, timeout=5).status)\n"
              "except urllib.error.HTTPError as e: print(e.code)\n")
    for headers, status in (("{}", "404"), (repr(OPERATOR), "200")):
        done = subprocess.run(["docker", "exec", worker, "python", "-c",
                               scrape.format(h=headers)], capture_output=True, text=True,
                              timeout=30, check=False, env=composed.env)
        assert done.stdout.strip() == status, done.stderr


def test_the_socket_proxy_refuses_privileged_and_host_binds(composed):
    """The worker's own docker SDK, through its DOCKER_HOST (the proxy), in its container."""
    script = f"""
import docker
client = docker.from_env(version="auto")
image, labels = "vaporforge/login-test:latest", {{"vaporforge.deployment": "{composed.project}"}}
for host in ({{"privileged": True}}, {{"binds": ["/:/host"]}}, {{"cap_add": ["SYS_ADMIN"]}}):
    try:
        client.api.create_container(image, "true", user="10001", labels=labels,
                                    host_config=client.api.create_host_config(**host))
        print("created")
    except docker.errors.APIError as e:
        print(e.status_code)
try:  # the proxy sends its own label filter: only this deployment's containers
    found = client.api.containers(all=True)
    mine = all(c["Labels"].get("vaporforge.deployment") == "{composed.project}" for c in found)
    print("only-ours" if mine else "foreign")
except docker.errors.APIError as e:
    print(e.status_code)
try:
    client.api.images()
    print("listed")
except docker.errors.APIError as e:
    print(e.status_code)
"""
    done = subprocess.run(["docker", "exec", composed.container("worker"), "python", "-c",
                           script], capture_output=True, text=True, timeout=60, check=False,
                          env=composed.env)
    assert done.stdout.split() == ["403"] * 3 + ["only-ours", "403"], done.stdout + done.stderr


def test_slow_header_clients_do_not_starve_the_api_behind_the_edge(composed):
    """16 connections dribbling their headers for 12 s (past two of nginx's 5 s header
    timeouts); /healthz answers every probe."""
    from bench.slow_clients import SlowHeaders, probe

    with SlowHeaders(composed.api, 16, composed.ca).held() as slow:
        result = probe(composed.api + "/healthz", seconds=12, every=1, timeout=1,
                       ca=composed.ca)
    slowest = max(result.seconds, default=0) * 1000
    print(f"compose: 16 slow-header clients: {result.answered}/{result.sent} probes "
          f"answered, slowest {slowest:.0f} ms; nginx dropped slow clients {slow.drops} times")
    assert result.sent >= 10 and result.failures == [] and result.answered == result.sent
    assert slow.drops >= 16  # nginx's client_header_timeout ended each one at least once


def test_the_edge_publishes_on_loopback_only_by_default(composed, engine):
    """No VF_BIND_ADDRESS: both ports answer on this machine only."""
    bindings = engine.api.inspect_container(composed.container("edge"))["HostConfig"]
    hosts = {b["HostIp"] for held in bindings["PortBindings"].values() for b in held}
    assert hosts == {"127.0.0.1"}


def edge_with(composed: Composed, engine: docker.DockerClient, **env: str) -> dict:
    """Recreate only the edge with ``env`` added; its inspect once it runs or gave up."""
    edge = Composed(composed.project, {**composed.env, **env}, composed.api, composed.http,
                    composed.ca)
    edge.compose("up", "-d", "--no-deps", "--force-recreate", "edge")

    def settled() -> dict | None:
        state = engine.api.inspect_container(edge.container("edge"))
        running = state["State"]["Running"] and not state["State"]["Restarting"]
        try:
            answered = running and composed.get("/healthz").status_code == 200
        except requests.RequestException:
            answered = False
        if answered:
            return state
        return state if state["State"]["ExitCode"] == 2 else None

    return wait_for(settled, timeout=60, interval=0.25, what="the edge to start or refuse")


@pytest.mark.parametrize(("env", "starts"), [
    ({"VF_BIND_ADDRESS": "0.0.0.0"}, False),
    ({"VF_BIND_ADDRESS": "0.0.0.0", "VF_OPEN_NETWORK": "yes"}, False),
    ({"VF_BIND_ADDRESS": "0.0.0.0", "VF_OPEN_NETWORK": "private"}, True),
    ({"VF_BIND_ADDRESS": "0.0.0.0", "VF_HOST_KEYS": "app=sha256:" + "0" * 64}, True),
], ids=["public", "unknown-opt-in", "private-opt-in", "host-keys"])
def test_a_public_bind_address_needs_host_keys_or_the_private_opt_in(composed, engine, env,
                                                                     starts):
    try:
        state = edge_with(composed, engine, **env)
        logs = engine.api.logs(state["Id"]).decode()
        if starts:
            held = state["HostConfig"]["PortBindings"].values()
            assert {b["HostIp"] for ports in held for b in ports} == {"0.0.0.0"}
        else:
            assert state["State"]["ExitCode"] == 2
            if "VF_OPEN_NETWORK" in env:
                assert "VF_OPEN_NETWORK must be empty or 'private'" in logs, logs
            else:  # it says which setting to add
                assert "refusing to start" in logs and "Set VF_HOST_KEYS" in logs, logs
                assert "VF_OPEN_NETWORK=private" in logs, logs
    finally:
        edge_with(composed, engine)  # back to the default for the tests after this one


ASK_PROMETHEUS = """
import json, sys, urllib.error, urllib.parse, urllib.request
answers = []
for path, params in json.load(sys.stdin):
    url = "http://prometheus:9090" + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            answers.append(json.load(response))
    except urllib.error.HTTPError as refused:  # a query that does not parse: 400 and why
        answers.append(json.load(refused))
json.dump(answers, sys.stdout)
"""


def ask_prometheus(composed: Composed, *calls: tuple[str, dict[str, str]]) -> list[dict]:
    """Prometheus's JSON for each (path, parameters), all in one `docker exec` into the
    API's container (on the compose network; Prometheus publishes no port)."""
    done = subprocess.run(["docker", "exec", "-i", composed.container("api"), "python", "-c",
                           ASK_PROMETHEUS], input=json.dumps(calls), capture_output=True,
                          text=True, timeout=120, check=False, env=composed.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def login(composed: Composed, code: str) -> str:
    """One login through the edge with ``code`` pasted; its last state (claimed if ready)."""
    key = ECKey.generate_key("P-256")
    created = composed.post("/api/auth/sessions", json={
        "mode": "oauth", "client_public_key": key.as_dict(private=False)})
    assert created.status_code == 202, created.text
    session = created.json()
    path = f"/api/auth/sessions/{session['session_id']}"
    auth = {"Authorization": f"Bearer {session['session_token']}"}

    def state(*wanted: str) -> str | None:
        found: str = composed.get(path, headers=auth).json()["state"]
        return found if found in wanted else None

    wait_for(lambda: state("awaiting_code"), timeout=60, interval=0.25, what="awaiting_code")
    assert composed.post(path + "/code", headers=auth, json={"code": code}).status_code == 202
    ended = wait_for(lambda: state("ready", "failed"), timeout=60, interval=0.25,
                     what="ready or failed")
    if ended == "ready":
        assert composed.post(path + "/credentials", headers=auth).status_code == 200
        return "claimed"
    return ended


def logins(composed: Composed, good: int, failing: int) -> list[str]:
    """Logins at once: ``good`` succeed, ``failing`` paste a code the simulator refuses."""
    codes = ([f"panel-code-{uuid.uuid4().hex}#state" for _ in range(good)]
             + [f"will-fail-{uuid.uuid4().hex}#state" for _ in range(failing)])
    with ThreadPoolExecutor(len(codes)) as pool:
        return sorted(pool.map(lambda code: login(composed, code), codes))


def known_names(composed: Composed) -> set[str]:
    """Every series name Prometheus holds, and every family its targets describe (HELP
    and TYPE, so a labelled metric no event has touched yet counts), with the suffixes
    a family's series take."""
    names, metadata = ask_prometheus(composed, ("/api/v1/label/__name__/values", {}),
                                     ("/api/v1/metadata", {}))
    assert names["status"] == metadata["status"] == "success", (names, metadata)
    suffixes = ("", "_total", "_bucket", "_count", "_sum", "_created", "_info")
    return set(names["data"]) | {family + suffix for family in metadata["data"]
                                 for suffix in suffixes}


def evaluated(composed: Composed, exprs: list[str], at: float) -> list[dict]:
    return ask_prometheus(composed, *(("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
                                      for expr in exprs))


def faults(exprs: list[str], answers: list[dict], known: set[str]) -> list[str]:
    """What is wrong with each query: Prometheus refused it, or it names a metric that
    no target exports (a misspelling parses, and only answers nothing)."""
    found = []
    for expr, answer in zip(exprs, answers, strict=True):
        if answer.get("status") != "success":
            found.append(f"{expr}: {answer.get('errorType')}: {answer.get('error')}")
        found += [f"{expr}: no metric {name}" for name in sorted(metric_names(expr) - known)]
    return found


def test_prometheus_scrapes_the_stack_and_runs_every_dashboard_and_alert_query(composed):
    """The observability profile: Prometheus scrapes the API and the worker with the
    metrics token and loads alerts.yml; after logins (some failing) every panel query
    of deploy/grafana/vaporforge.json and every alert expression runs against it."""
    started = time.monotonic()
    workers = readyz(composed)["workers"]
    # Two waves a scrape apart: the failure counters exist (a first failure makes
    # them) and are scraped before they grow, so their rates are above zero. (With a
    # 2.5 s pause, one run saw the edge answer 502 to a creation in the second wave;
    # cause not found: 150 POSTs 1.9-3.2 s apart through the edge did not repeat it.)
    ended = logins(composed, good=2, failing=1)
    time.sleep(2 * PROMETHEUS_INTERVAL)
    ended += logins(composed, good=2, failing=2)
    assert sorted(ended) == ["claimed"] * 4 + ["failed"] * 3, ended
    done = time.time()
    print(f"compose: 7 logins (3 failing) in {time.monotonic() - started:.1f} s")

    # Two scrapes of every target after the last login: the oldest last scrape is
    # more than one interval past it.
    def scraped_twice() -> bool:
        (answer,) = evaluated(composed, ["min(timestamp(up))"], time.time())
        result = answer["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) > done + PROMETHEUS_INTERVAL

    wait_for(scraped_twice, timeout=60, interval=1, what="two scrapes after the logins")
    print(f"compose: two scrapes after them by {time.monotonic() - started:.1f} s")

    targets, rules = ask_prometheus(composed, ("/api/v1/targets", {"state": "active"}),
                                    ("/api/v1/rules", {"type": "alert"}))
    health = sorted((t["labels"]["job"], t["health"], t["lastError"])
                    for t in targets["data"]["activeTargets"])
    assert health == [("vaporforge-api", "up", "")] + [("vaporforge-worker", "up", "")] * workers
    loaded = [r for group in rules["data"]["groups"] for r in group["rules"]]
    assert sorted(r["name"] for r in loaded) == sorted(r["alert"] for r in alerts())
    assert [(r["name"], r["lastError"]) for r in loaded if r["health"] != "ok"] == []

    at = time.time()
    panels, rule_exprs = panel_expressions(), alert_expressions()
    known = known_names(composed)
    answers = evaluated(composed, panels + rule_exprs, at)
    assert faults(panels + rule_exprs, answers, known) == []
    results = {expr: a["data"]["result"] for expr, a in zip(panels, answers, strict=False)}

    # The panels show the logins: started, ready, claimed, failed by code, time to URL.
    def series(fragment: str) -> list[dict]:
        (expr,) = [e for e in panels if fragment in e]
        assert results[expr], f"no series: {expr}"
        return results[expr]

    for fragment in ("vaporforge_sessions_created_total", 'state="ready"', 'state="claimed"'):
        assert float(series(fragment)[0]["value"][1]) > 0, fragment
    failed = series('60 * sum(max by (code) (rate(vaporforge_sessions_ended_total{state="failed"}')
    assert float(failed[0]["value"][1]) > 0
    by_code = series('60 * max by (code) (rate(vaporforge_sessions_ended_total{state="failed"}')
    rates = {s["metric"].get("code"): float(s["value"][1]) for s in by_code}
    assert rates.get("exchange_failed", 0) > 0, rates  # the simulator's refusal
    for quantile in ("0.5", "0.95"):
        for histogram in ("time_to_url", "time_to_ready"):
            (value,) = series(f"histogram_quantile({quantile}, sum by (le) "
                              f"(rate(vaporforge_worker_{histogram}_seconds_bucket")
            assert 0 < float(value["value"][1]) < 60, (quantile, histogram, value)
    assert len(series("vaporforge_worker_cli_info")) == 1  # one CLI version

    # A misspelled metric parses and answers nothing: the name check catches it, and
    # a query that does not parse is refused.
    wrong = [panels[0].replace("vaporforge_sessions_created_total",
                               "vaporforge_sessions_creatd_total"), panels[0] + " +"]
    answered = evaluated(composed, wrong, at)
    assert answered[0]["status"] == "success" and answered[0]["data"]["result"] == []
    assert [f.split(": ", 1)[1] for f in faults(wrong, answered, known)] == [
        "no metric vaporforge_sessions_creatd_total", "bad_data: " + answered[1]["error"]]
    print(f"compose: {len(panels)} panel and {len(rule_exprs)} alert queries run against "
          f"Prometheus by {time.monotonic() - started:.1f} s")

    if os.environ.get("VF_PANELS_PNG"):  # the picture in docs/OPERATIONS.md
        draw_panels(composed, Path(os.environ["VF_PANELS_PNG"]),
                    seconds=time.monotonic() - started + 30)
        print(f"compose: drew {os.environ['VF_PANELS_PNG']} by "
              f"{time.monotonic() - started:.1f} s")


def draw_panels(composed: Composed, out: Path, seconds: float) -> None:
    """deploy/grafana/render_panels.py over the last ``seconds`` of this stack."""
    spec = importlib.util.spec_from_file_location("render_panels",
                                                  ROOT / "deploy/grafana/render_panels.py")
    assert spec and spec.loader
    panels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(panels)
    board = json.loads(panels.BOARD.read_text())
    end = time.time()
    queries = panels.range_queries(board, end - seconds, end, PROMETHEUS_INTERVAL, "30s")
    answers = ask_prometheus(composed, *(("/api/v1/query_range", q) for q in queries))
    panels.render(board, answers, out, "VaporForge after the compose test's logins "
                  f"(Prometheus, {PROMETHEUS_INTERVAL:g} s scrapes, rates over 30 s)",
                  (end - seconds, end))


def test_scales_to_two_workers_and_goes_down_clean(composed, engine):
    started = time.monotonic()
    composed.compose("up", "-d", "--no-build", "--no-deps", "--scale", "worker=2", "worker")
    wait_for(lambda: readyz(composed).get("workers") == 2, timeout=90, interval=0.5,
             what="two workers to register")
    print(f"compose: two workers by {time.monotonic() - started:.1f} s")
    # Prometheus follows the scale: the service name's DNS answers both workers.
    count = 'count(up{job="vaporforge-worker"} == 1)'
    wait_for(lambda: [a["data"]["result"][0]["value"][1] for a in
                      evaluated(composed, [count], time.time()) if a["data"]["result"]] == ["2"],
             timeout=60, interval=1, what="Prometheus to scrape both workers")
    print(f"compose: Prometheus scrapes both workers by {time.monotonic() - started:.1f} s")

    composed.compose("down", "-v", "-t", "5")
    assert leftovers(engine, composed) == []
    print(f"compose: down by {time.monotonic() - started:.1f} s")
