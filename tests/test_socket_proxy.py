"""The Docker socket proxy (deploy/socket-proxy/): its rules, then the proxy itself
in front of the real engine (VF_DOCKER_TESTS=1), driven by the docker SDK as the
worker drives it. The whole login through it runs in tests/test_compose.py."""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy/socket-proxy"))

from socket_policy import DEPLOYMENT_LABEL, Policy, Request, check  # noqa: E402

POLICY = Policy("vftest", "vaporforge/login-test:latest")
OURS = {"Config": {"Image": "vaporforge/login-test:latest",
                   "Labels": {DEPLOYMENT_LABEL: "vftest"}}}
THEIRS = {"Config": {"Image": "vaporforge/login-test:latest",
                     "Labels": {DEPLOYMENT_LABEL: "other"}}}
OTHER_IMAGE = {"Config": {"Image": "alpine", "Labels": {DEPLOYMENT_LABEL: "vftest"}}}
CONTAINERS = {"c-ours": OURS, "c-theirs": THEIRS, "c-alpine": OTHER_IMAGE}
EXECS = {"e-ours": {"ContainerID": "c-ours"}, "e-theirs": {"ContainerID": "c-theirs"}}


def verdict(method: str, target: str, body: object = None) -> str | None:
    raw = json.dumps(body).encode() if body is not None else b""
    return check(POLICY, Request(method, target, raw), CONTAINERS.get, EXECS.get)


def create(**changes: object) -> dict:
    host = {"NetworkMode": "none", "ReadonlyRootfs": True, "Privileged": False,
            "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
            "Tmpfs": {"/tmp": "rw,noexec"}, "Memory": 536870912, "IpcMode": "private",
            "AutoRemove": True, "LogConfig": {"Type": "none", "Config": {}}}
    spec: dict = {"Image": "vaporforge/login-test:latest", "Cmd": None, "User": "10001:10001",
                  "Labels": {DEPLOYMENT_LABEL: "vftest", "vaporforge.session": "s"},
                  "Env": ["A=b"], "WorkingDir": "/home/login", "HostConfig": host}
    for key, value in changes.items():
        if key.startswith("host_"):
            host[key.removeprefix("host_")] = value
        else:
            spec[key] = value
    return spec


def test_the_worker_calls_pass():
    assert verdict("GET", "/_ping") is None
    assert verdict("GET", "/v1.41/version") is None
    assert verdict("POST", "/v1.41/containers/create", create()) is None
    label = json.dumps({"label": [f"{DEPLOYMENT_LABEL}=vftest"]})
    assert verdict("GET", f"/v1.41/containers/json?all=1&filters={label}") is None
    for method, suffix in (("POST", "/start"), ("POST", "/wait"), ("GET", "/json"),
                           ("GET", "/logs?stdout=1"), ("DELETE", "?force=1&v=1")):
        assert verdict(method, f"/v1.41/containers/c-ours{suffix}") is None, suffix
    assert verdict("POST", "/v1.41/containers/c-ours/exec", {"Cmd": ["sh"], "Tty": True}) is None
    for method, action in (("POST", "start"), ("GET", "json"), ("POST", "resize")):
        assert verdict(method, f"/v1.41/exec/e-ours/{action}") is None


@pytest.mark.parametrize(("changes", "why"), [
    ({"host_Privileged": True}, "privileged"),
    ({"host_Binds": ["/:/host"]}, "Binds"),
    ({"host_Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}, "Mounts"),
    ({"host_CapAdd": ["SYS_ADMIN"]}, "CapAdd"),
    ({"host_Devices": [{"PathOnHost": "/dev/sda"}]}, "Devices"),
    ({"host_NetworkMode": "host"}, "NetworkMode"),
    ({"host_PidMode": "host"}, "PidMode"),
    ({"host_IpcMode": "host"}, "IpcMode"),
    ({"host_SecurityOpt": ["seccomp=unconfined"]}, "unconfined"),
    ({"host_PortBindings": {"22/tcp": [{"HostPort": "22"}]}}, "PortBindings"),
    ({"host_LogConfig": {"Type": "syslog", "Config": {"syslog-address": "tcp://x:514"}}},
     "log driver"),
    ({"Image": "alpine"}, "login image"),
    ({"Image": "vaporforge/login-test:other"}, "login image"),
    ({"Labels": {DEPLOYMENT_LABEL: "other"}}, "label"),
    ({"Labels": {}}, "label"),
    ({"User": "root"}, "non-root"),
    ({"User": ""}, "non-root"),
    ({"Volumes": None, "Privileged": True}, "Privileged"),
])
def test_dangerous_containers_are_refused(changes, why):
    reason = verdict("POST", "/v1.41/containers/create", create(**changes))
    assert reason is not None and why in reason


@pytest.mark.parametrize(("method", "target"), [
    ("GET", "/v1.41/containers/json"),  # every container of the engine
    ("GET", '/containers/json?filters={"label":["vaporforge.deployment=other"]}'),
    ("POST", "/containers/c-theirs/start"),
    ("DELETE", "/containers/c-theirs"),
    ("POST", "/containers/c-alpine/exec"),
    ("POST", "/containers/nope/start"),
    ("POST", "/containers/c-ours/attach"),
    ("POST", "/containers/c-ours/update"),
    ("GET", "/containers/c-ours/archive?path=/"),
    ("POST", "/exec/e-theirs/start"),
    ("POST", "/images/create?fromImage=alpine"),
    ("POST", "/build"),
    ("GET", "/info"),
    ("POST", "/volumes/create"),
    ("POST", "/networks/create"),
    ("POST", "/swarm/init"),
    ("GET", "/containers/c-ours/../../info"),
    ("GET", "/containers/c-ours%2F..%2F..%2Finfo/json"),
])
def test_everything_else_is_refused(method, target):
    assert verdict(method, target) is not None


def test_a_privileged_or_root_exec_is_refused():
    assert "privileged" in verdict("POST", "/containers/c-ours/exec",
                                   {"Cmd": ["sh"], "Privileged": True})
    assert "root" in verdict("POST", "/containers/c-ours/exec", {"Cmd": ["sh"], "User": "0"})


# The proxy on the real engine --------------------------------------------------------

docker_only = pytest.mark.skipif(os.environ.get("VF_DOCKER_TESTS") != "1",
                                 reason="VF_DOCKER_TESTS=1 runs the Docker tests")
IMAGE = os.environ.get("VF_TEST_LOGIN_IMAGE", "vaporforge/login-test:latest")


proxied_path: list[str] = []


def raw(path: str, request: bytes) -> bytes:
    """Send ``request`` bytes on a fresh connection to the proxy; all it answers."""
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def proxied(tmp_path_factory):
    import docker
    from socket_proxy import serve

    engine_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not engine_host.startswith("unix://"):
        pytest.skip("the proxy forwards to the engine's unix socket")
    deployment = f"vfproxy{uuid.uuid4().hex[:8]}"
    path = str(tmp_path_factory.mktemp("proxy") / "docker.sock")
    proxied_path.append(path)
    server = serve(path, engine_host.removeprefix("unix://"), Policy(deployment, IMAGE))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = docker.DockerClient(f"unix://{path}", version="auto", timeout=30)
    engine = docker.from_env()
    try:
        yield deployment, client, engine
    finally:
        server.shutdown()
        server.server_close()
        for c in engine.api.containers(all=True, filters={"label": f"{DEPLOYMENT_LABEL}="
                                                          f"{deployment}"}):
            engine.api.remove_container(c["Id"], force=True)
        client.close()
        engine.close()


@docker_only
@pytest.mark.docker
def test_the_proxy_refuses_privileged_and_host_binds_with_403(proxied):
    from docker.errors import APIError

    deployment, client, engine = proxied
    labels = {DEPLOYMENT_LABEL: deployment}
    for host in ({"privileged": True}, {"binds": ["/:/host:ro"]}, {"cap_add": ["SYS_ADMIN"]}):
        with pytest.raises(APIError) as refused:
            client.api.create_container(IMAGE, "true", user="10001", labels=labels,
                                        host_config=client.api.create_host_config(**host))
        assert refused.value.status_code == 403
        assert "refused by the VaporForge socket proxy" in str(refused.value)
    with pytest.raises(APIError) as other_image:
        client.api.create_container("vaporforge/base:bookworm", "true", user="10001",
                                    labels=labels)
    assert other_image.value.status_code == 403
    with pytest.raises(APIError) as listing:
        client.api.containers(all=True)
    assert listing.value.status_code == 403
    assert engine.api.containers(all=True, filters={"label": f"{DEPLOYMENT_LABEL}="
                                                    f"{deployment}"}) == []


@docker_only
@pytest.mark.docker
def test_the_docker_runtime_works_through_the_proxy(proxied):
    from worker.runtimes.base import SpawnSpec
    from worker.runtimes.docker_runtime import DockerRuntime

    deployment, client, engine = proxied
    runtime = DockerRuntime(IMAGE, network="none", deployment=deployment, client=client)
    assert runtime.version(("python3", "/opt/vaporforge/cli_simulator.py"))
    place = runtime.start(f"s-{uuid.uuid4().hex}", expires_at=int(__import__("time").time()) + 60)
    try:
        child = place.spawn(SpawnSpec(argv=("/bin/sh", "-c", "read x; echo got-$x"), env={},
                                      cols=80, rows=24))
        child.sendline("hello")
        child.expect("got-hello", timeout=10)
        assert place.read_file("nothing-here") is None
        child.close()
    finally:
        place.stop()
    assert runtime.reap(set()) == 0


@docker_only
@pytest.mark.docker
def test_no_second_request_rides_on_an_allowed_one(proxied):
    """An Upgrade on a call that does not hijack, or on an exec start the engine
    does not turn into a stream (Detach), must not open a raw pipe to the engine."""
    deployment, client, engine = proxied
    info = b"GET /info HTTP/1.1\r\nHost: docker\r\n\r\n"
    upgrade = b"Connection: Upgrade\r\nUpgrade: tcp\r\n"
    answer = raw(proxied_path[-1], b"GET /_ping HTTP/1.1\r\nHost: docker\r\n" + upgrade
                 + b"\r\n" + info)
    assert answer.count(b"HTTP/1.1 ") == 1 and b"KernelVersion" not in answer

    from worker.runtimes.docker_runtime import DockerRuntime

    runtime = DockerRuntime(IMAGE, network="none", deployment=deployment, client=client)
    place = runtime.start(f"s-{uuid.uuid4().hex}", expires_at=int(__import__("time").time()) + 60)
    try:
        exec_id = client.api.exec_create(place.container_id, ["true"])["Id"]
        body = b'{"Detach": true, "Tty": false}'
        answer = raw(proxied_path[-1], (
            f"POST /exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n").encode()
            + upgrade + b"\r\n" + body + info)
        assert answer.startswith(b"HTTP/1.1 200") and b"KernelVersion" not in answer
    finally:
        place.stop()
