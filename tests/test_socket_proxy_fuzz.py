"""Random create and exec bodies through the socket proxy to the real engine
(VF_DOCKER_TESTS=1): whatever the proxy lets through, every container the engine
made has exactly the spec's host settings and user, and every exec runs as the
spec's user, unprivileged. Bodies start from the worker's own and are mutated
the ways two JSON readers disagree: dangerous values, dropped fields, lower-case
twins, duplicated keys, numbers for booleans."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.socket_proxy_kit import (
    IMAGE,
    ProxyKit,
    assert_spec_container,
    assert_spec_exec,
    proxy_kit_for,
)
from vaporforge.login_container import LoginVariables

pytestmark = pytest.mark.docker

# (field, values a hostile worker might send); "HostConfig.X" is inside HostConfig.
CREATE_FIELDS: list[tuple[str, list[object]]] = [
    ("Image", [IMAGE, "vaporforge/base:bookworm", IMAGE.upper()]),
    ("User", ["10001:10001", "0", "00", "root", "0:0", "", "10001", 0]),
    ("Cmd", [None, ["sh", "-c", "id"], ["python3", "/opt/vaporforge/cli_simulator.py",
                                         "--version"]]),
    ("Env", [[], ["LD_PRELOAD=/tmp/x.so"], None]),
    ("Entrypoint", [["sh"], None]),
    ("HostConfig.Privileged", [True, False, 1, "true"]),
    ("HostConfig.Binds", [["/:/host"], [], None]),
    ("HostConfig.CapAdd", [["SYS_ADMIN"], ["ALL"]]),
    ("HostConfig.CapDrop", [[], ["ALL"], None]),
    ("HostConfig.SecurityOpt", [["seccomp=unconfined"], [], ["apparmor=unconfined"],
                                ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']]),
    ("HostConfig.MaskedPaths", [[]]),
    ("HostConfig.ReadonlyPaths", [[]]),
    ("HostConfig.ReadonlyRootfs", [False, True, 0]),
    ("HostConfig.NetworkMode", ["host", "none", "bridge", "container:x"]),
    ("HostConfig.PidMode", ["host"]),
    ("HostConfig.Runtime", ["runc", "runsc", "io.containerd.runc.v2"]),
    ("HostConfig.Memory", [0, 268435456, 268435456.0, -1]),
    ("HostConfig.PidsLimit", [-1, 0, 64, None]),
    ("HostConfig.NanoCpus", [0, 1000000000]),
    ("HostConfig.Devices", [[{"PathOnHost": "/dev/kmsg", "PathInContainer": "/dev/kmsg",
                               "CgroupPermissions": "rwm"}]]),
    ("HostConfig.privileged", [True]),
    ("hostconfig", [{"Privileged": True}]),
    ("NetworkingConfig", [{"EndpointsConfig": {"host": {}}}]),
]
EXEC_FIELDS: list[tuple[str, list[object]]] = [
    ("User", ["", "10001:10001", "0", "00", "root", "0:0", None]),
    ("Privileged", [False, True, 1, "true", None]),
    ("privileged", [True]),
    ("user", ["root", "0"]),
    ("Env", [["TERM=dumb"], ["LD_PRELOAD=/x"], ["HOME=/"], None]),
    ("WorkingDir", ["/home/login", "/", None]),
    ("Tty", [True, False, 1]),
]


def mutated(base: dict, fields: list[tuple[str, list[object]]], draw) -> tuple[dict, str | None]:
    body = json.loads(json.dumps(base))
    chosen = draw(st.lists(st.sampled_from(range(len(fields))), max_size=4, unique=True))
    for index in chosen:
        name, values = fields[index]
        value = draw(st.sampled_from(values))
        target, key = (body.setdefault("HostConfig", {}), name[11:]) \
            if name.startswith("HostConfig.") else (body, name)
        if not isinstance(target, dict):
            continue
        if value is None and draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = value
    duplicate = None
    if draw(st.booleans()) and chosen:
        duplicate = fields[draw(st.sampled_from(chosen))][0].split(".")[-1]
    return body, duplicate


def with_duplicate(body: dict, key: str | None) -> bytes:
    """The body's JSON with a first copy of ``key`` that Go would read and Python not."""
    raw = json.dumps(body)
    if key is None:
        return raw.encode()
    evil = {"Privileged": True, "User": "0", "HostConfig": {"Privileged": True,
                                                            "Binds": ["/:/host"]}}
    first = json.dumps(evil.get(key, True))
    return ("{" + json.dumps(key) + ": " + first + ", " + raw[1:]).encode()


@st.composite
def create_requests(draw, kit: ProxyKit) -> bytes:
    # The worker's own body (DockerRuntime sends exactly this), then mutated.
    body = kit.spec.create_body(LoginVariables(int(time.time()) + 600, session_id="fuzz"))
    return with_duplicate(*mutated(body, CREATE_FIELDS, draw))


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    with proxy_kit_for(tmp_path_factory.mktemp("fuzz-proxy")) as made:
        yield made


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_container_the_proxy_lets_through_is_the_spec_s(kit: ProxyKit, data):
    raw = data.draw(create_requests(kit))
    kit.send("POST", "/v1.41/containers/create", raw)
    for container in kit.containers():
        inspected = kit.engine.api.inspect_container(container["Id"])
        try:
            assert_spec_container(inspected, kit.spec)
        finally:
            kit.engine.api.remove_container(container["Id"], force=True)


@pytest.fixture(scope="module")
def running(kit: ProxyKit):
    return kit.login()


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_exec_the_proxy_lets_through_runs_as_the_spec_s_user(kit: ProxyKit, running,
                                                                   data):
    base = {"Container": running.container_id, "User": "", "Privileged": False, "Tty": False,
            "AttachStdin": False, "AttachStdout": True, "AttachStderr": True,
            "Cmd": ["id", "-u"], "Env": None}
    body, duplicate = mutated(base, EXEC_FIELDS, data.draw)
    kit.send("POST", f"/v1.41/containers/{running.container_id}/exec",
             with_duplicate(body, duplicate))
    inspected = kit.engine.api.inspect_container(running.container_id)
    for exec_id in inspected.get("ExecIDs") or []:
        assert_spec_exec(kit.engine.api.exec_inspect(exec_id), kit.spec)
