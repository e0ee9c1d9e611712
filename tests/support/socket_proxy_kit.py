"""The Docker socket proxy in front of the real engine, for tests: one proxy per
test on its own socket, with its own deployment name, and the checks that judge
a container or exec by the engine's own inspect."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from vaporforge.login_container import (
    DEPLOYMENT_LABEL,
    LoginContainerSpec,
    LoginVariables,
    memory_bytes,
)

IMAGE = os.environ.get("VF_TEST_LOGIN_IMAGE", "vaporforge/login-test:latest")
SIMULATOR = ("python3", "/opt/vaporforge/cli_simulator.py")
SPEC_USER = "10001:10001"


def test_spec(deployment: str, runtime: str | None = None, **changes: Any) -> LoginContainerSpec:
    """The spec the tests' proxies hold: the simulator image, no network."""
    spec = LoginContainerSpec(image=IMAGE, deployment=deployment, login_command=SIMULATOR,
                              network="none", runtime=runtime, memory="256m", pids=64)
    return replace(spec, **changes)


test_spec.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def create_body(spec: LoginContainerSpec, session: str | None, probe: str | None = None,
                **changes: Any) -> dict[str, Any]:
    """The spec's own body, with ``changes`` (``host_X`` for HostConfig.X)."""
    variables = LoginVariables(int(time.time()) + 3600, session_id=session, probe_id=probe)
    body = spec.create_body(variables)
    for key, value in changes.items():
        if key.startswith("host_"):
            body["HostConfig"][key.removeprefix("host_")] = value
        else:
            body[key] = value
    return body


def raw_request(path: str, request: bytes) -> bytes:
    """Send ``request`` bytes on a fresh connection to the proxy; all it answers."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(path)
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def assert_spec_container(inspected: dict[str, Any], spec: LoginContainerSpec) -> None:
    """The engine made exactly the spec's container: user and every host setting."""
    host, config = inspected["HostConfig"], inspected["Config"]
    assert config["User"] == spec.user
    assert config["Image"] == spec.image
    assert host["Privileged"] is False
    assert not host.get("Binds") and not host.get("Mounts") and not inspected.get("Mounts")
    assert not host.get("CapAdd") and host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]  # Docker's default seccomp
    assert host["ReadonlyRootfs"] is True
    assert host["MaskedPaths"] and host["ReadonlyPaths"]  # the engine's defaults kept
    assert host["Memory"] == host["MemorySwap"] == memory_bytes(spec.memory)
    assert host["PidsLimit"] == spec.pids and host["NanoCpus"] == int(spec.cpus * 1e9)
    assert host["Runtime"] == (spec.runtime or "runc")
    assert host["NetworkMode"] == spec.network
    assert not (inspected.get("NetworkSettings") or {}).get("Networks", {}).get("host")
    assert host["IpcMode"] == "private" and host["PidMode"] == ""
    assert not host.get("Devices") and not host.get("PortBindings")


def assert_spec_exec(inspected: dict[str, Any], spec: LoginContainerSpec) -> None:
    process = inspected["ProcessConfig"]
    assert process["privileged"] is False and process["user"] == spec.user


@dataclass
class ProxyKit:
    path: str
    spec: LoginContainerSpec
    client: Any  # docker.DockerClient on the proxy's socket
    engine: Any  # docker.DockerClient on the engine's own socket
    foreign_ids: list[str] = field(default_factory=list)
    foreign_name: str = ""

    def send(self, method: str, target: str, body: bytes = b"") -> bytes:
        head = f"{method} {target} HTTP/1.1\r\nHost: docker\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return raw_request(self.path, head.encode() + b"\r\n" + body)

    def containers(self) -> list[dict[str, Any]]:
        """This deployment's containers, as the engine lists them (not the proxy)."""
        mine = {"label": f"{DEPLOYMENT_LABEL}={self.spec.deployment}"}
        return list(self.engine.api.containers(all=True, filters=mine))

    def runtime(self, **changes: Any) -> Any:
        from worker.runtimes.docker_runtime import DockerRuntime
        return DockerRuntime.from_spec(replace(self.spec, **changes), client=self.client)

    def login(self) -> Any:
        """A running login container made through the proxy (removed at the end)."""
        return self.runtime().start(f"s-{uuid.uuid4().hex}", int(time.time()) + 300)

    def foreign_container(self) -> str:
        """A running container of another deployment, made on the engine directly."""
        self.foreign_name = f"vfforeign-{uuid.uuid4().hex[:8]}"
        made = self.engine.api.create_container(
            self.spec.image, ["sleep", "300"], name=self.foreign_name, user=SPEC_USER,
            labels={DEPLOYMENT_LABEL: f"other-{self.spec.deployment}"},
            host_config=self.engine.api.create_host_config(network_mode="none"))
        self.engine.api.start(made["Id"])
        self.foreign_ids.append(made["Id"])
        return str(made["Id"])


@contextmanager
def proxy_kit_for(folder: Path, runtime: str | None = None) -> Iterator[ProxyKit]:
    """A proxy on the engine at DOCKER_HOST (its unix socket), for one test."""
    import docker
    from socket_policy import Policy
    from socket_proxy import serve

    if os.environ.get("VF_DOCKER_TESTS") != "1":
        pytest.skip("VF_DOCKER_TESTS=1 runs the Docker tests")
    engine_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not engine_host.startswith("unix://"):
        pytest.skip("the proxy forwards to the engine's unix socket")
    spec = test_spec(f"vfproxy{uuid.uuid4().hex[:8]}", runtime)
    path = str(folder / "docker.sock")
    server = serve(path, engine_host.removeprefix("unix://"), Policy(spec))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = docker.DockerClient(f"unix://{path}", version="auto", timeout=30)
    engine = docker.from_env()
    kit = ProxyKit(path, spec, client, engine)
    try:
        yield kit
    finally:
        server.shutdown()
        server.server_close()
        for container in kit.containers():
            engine.api.remove_container(container["Id"], force=True)
        for ident in kit.foreign_ids:
            engine.api.remove_container(ident, force=True)
        client.close()
        engine.close()
