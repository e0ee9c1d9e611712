"""The Docker socket proxy (deploy/socket-proxy/): its rules as tables, then the
proxy in front of the real engine (VF_DOCKER_TESTS=1), where the engine's own
inspect judges what each request made. The whole login through it runs in
tests/test_compose.py; random bodies are in tests/test_socket_proxy_fuzz.py."""

from __future__ import annotations

import json
import time

import pytest
from socket_policy import Forward, Policy, Refused, Request, decide

from tests.support.socket_proxy_kit import (
    IMAGE,
    SPEC_USER,
    ProxyKit,
    assert_spec_container,
    assert_spec_exec,
    create_body,
    raw_request,
    test_spec,
)
from vaporforge.login_container import DEPLOYMENT_LABEL, LoginVariables

SPEC = test_spec("vftest")
POLICY = Policy(SPEC)
FULL = "c" * 64
OURS = {"Id": "a" * 64, "Config": {"Image": IMAGE, "Labels": {DEPLOYMENT_LABEL: "vftest"}}}
THEIRS = {"Id": "b" * 64, "Config": {"Image": IMAGE, "Labels": {DEPLOYMENT_LABEL: "other"}}}
OTHER_IMAGE = {"Id": "d" * 64,
               "Config": {"Image": "alpine", "Labels": {DEPLOYMENT_LABEL: "vftest"}}}
CONTAINERS = {"c-ours": OURS, "a" * 64: OURS, "c-theirs": THEIRS, "c-alpine": OTHER_IMAGE}
EXECS = {"e-ours": {"ID": "e" * 64, "ContainerID": "a" * 64},
         "e-theirs": {"ID": "f" * 64, "ContainerID": "c-theirs"}}


def forward(method: str, target: str, body: object = None, upgrade: bool = False) -> Forward:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None \
        else b""
    return decide(POLICY, Request(method, target, raw, upgrade), CONTAINERS.get, EXECS.get)


def refusal(method: str, target: str, body: object = None) -> Refused:
    with pytest.raises(Refused) as refused:
        forward(method, target, body)
    return refused.value


def login_body(**changes: object) -> dict:
    return create_body(SPEC, "s1", **changes)


def test_a_create_is_the_spec_built_again_with_the_login_s_own_values():
    sent = login_body()
    done = forward("POST", "/v1.41/containers/create", sent)
    assert done.path == "/v1.41/containers/create" and done.query == {}
    expires = int(sent["Labels"]["vaporforge.expires_at"])
    assert json.loads(done.body) == SPEC.create_body(LoginVariables(expires, session_id="s1"))
    # What the worker leaves out, the proxy fills from its own spec.
    bare = {"Labels": sent["Labels"]}
    assert forward("POST", "/containers/create", bare).body == done.body


def test_a_probe_runs_the_cli_s_version_and_keeps_its_log():
    probe = create_body(SPEC, None, probe="p1")
    body = json.loads(forward("POST", "/containers/create", probe).body)
    assert body["Cmd"] == [*SPEC.login_command, "--version"]
    assert body["HostConfig"]["AutoRemove"] is False and "LogConfig" not in body["HostConfig"]


@pytest.mark.parametrize(("changes", "named"), [
    ({"host_Privileged": True}, "HostConfig.Privileged"),
    ({"host_Privileged": 1}, "HostConfig.Privileged"),  # true is not 1, nor the reverse
    ({"host_Binds": ["/:/host"]}, "HostConfig.Binds"),
    ({"host_Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}, "HostConfig.Mounts"),
    ({"host_CapAdd": ["SYS_ADMIN"]}, "HostConfig.CapAdd"),
    ({"host_CapDrop": []}, "HostConfig.CapDrop"),
    ({"host_Devices": [{"PathOnHost": "/dev/sda"}]}, "HostConfig.Devices"),
    ({"host_NetworkMode": "host"}, "HostConfig.NetworkMode"),
    ({"host_PidMode": "host"}, "HostConfig.PidMode"),
    ({"host_IpcMode": "host"}, "HostConfig.IpcMode"),
    ({"host_SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']},
     "HostConfig.SecurityOpt"),
    ({"host_MaskedPaths": []}, "HostConfig.MaskedPaths"),
    ({"host_ReadonlyPaths": []}, "HostConfig.ReadonlyPaths"),
    ({"host_ReadonlyRootfs": False}, "HostConfig.ReadonlyRootfs"),
    ({"host_Runtime": "runc"}, "HostConfig.Runtime"),
    ({"host_Memory": 0}, "HostConfig.Memory"),
    ({"host_MemorySwap": -1}, "HostConfig.MemorySwap"),
    ({"host_PidsLimit": -1}, "HostConfig.PidsLimit"),
    ({"host_NanoCpus": 0}, "HostConfig.NanoCpus"),
    ({"host_AutoRemove": False}, "HostConfig.AutoRemove"),
    ({"host_LogConfig": {"Type": "syslog", "Config": {"syslog-address": "tcp://x:514"}}},
     "HostConfig.LogConfig"),
    ({"NetworkingConfig": {"EndpointsConfig": {"host": {}}}}, "NetworkingConfig"),
    ({"Image": "alpine"}, "Image"),
    ({"Image": "vaporforge/login-test:other"}, "Image"),
    ({"User": "00"}, "User"),
    ({"User": "root"}, "User"),
    ({"User": ""}, "User"),
    ({"Cmd": ["sh", "-c", "id"]}, "Cmd"),
    ({"Entrypoint": ["sh"]}, "Entrypoint"),
    ({"Env": ["LD_PRELOAD=/tmp/x.so"]}, "Env"),
    ({"WorkingDir": "/"}, "WorkingDir"),
    ({"HostConfig": []}, "HostConfig"),
])
def test_a_create_that_differs_from_the_spec_is_refused_naming_the_field(changes, named):
    refused = refusal("POST", "/v1.41/containers/create", login_body(**changes))
    assert refused.status == 403 and str(refused).startswith(named + " ")


@pytest.mark.parametrize(("labels", "why"), [
    ({DEPLOYMENT_LABEL: "other", "vaporforge.session": "s", "vaporforge.expires_at": "9"},
     "label"),
    ({"vaporforge.session": "s", "vaporforge.expires_at": "9"}, "label"),
    ({DEPLOYMENT_LABEL: "vftest", "vaporforge.expires_at": "9"}, "session id or a probe id"),
    ({DEPLOYMENT_LABEL: "vftest", "vaporforge.session": "s", "vaporforge.probe": "p",
      "vaporforge.expires_at": "9"}, "not both"),
    ({DEPLOYMENT_LABEL: "vftest", "vaporforge.session": "s/../x",
      "vaporforge.expires_at": "9"}, "A-Z"),
    ({DEPLOYMENT_LABEL: "vftest", "vaporforge.session": "s", "vaporforge.expires_at": "1e9"},
     "whole seconds"),
    ({DEPLOYMENT_LABEL: "vftest", "vaporforge.session": "s", "vaporforge.expires_at": "9",
      "com.docker.compose.project": "x"}, "Labels.com.docker.compose.project"),
])
def test_labels_carry_only_the_login_s_own_values(labels, why):
    assert why in str(refusal("POST", "/containers/create", {"Labels": labels}))


@pytest.mark.parametrize("body", [
    # Python keeps the last copy; Go keeps the first copy's fields.
    b'{"HostConfig": {"Privileged": true, "Binds": ["/:/host"]}, "HostConfig": {}}',
    b'{"Labels": {}, "labels": {}}',
    b'{"HostConfig": {"Privileged": false, "privileged": true}}',
    b'{"User": "10001:10001", "\\u0055ser": "0"}',  # an escaped twin is still a twin
    b'{"\xe2\x84\xaaey": 1}',  # the Kelvin sign folds to k in Go's matching
    b'{"HostConfig": {"Memory": NaN}}',
    b'{"Labels": ' + b'[' * 40 + b']' * 40 + b'}',
    b'\xff{}',
    b'[]',
])
def test_a_body_two_parsers_could_read_differently_is_refused(body):
    assert refusal("POST", "/containers/create", body).status == 400


@pytest.mark.parametrize("target", [
    '/containers/json?filters=&filters={"label":["vaporforge.deployment=vftest"]}',
    "/containers/json?all=1&all=0",
    "/containers/json?all=maybe",
    "/containers/json?name=x",
    "/containers/create?name=evil",
    "/containers/c-ours/logs?stdout=1&stdout=0",
    "/containers/c-ours/logs?tail=1;2",
])
def test_a_query_that_is_repeated_or_unknown_is_refused(target):
    method = "POST" if "create" in target else "GET"
    assert refusal(method, target, login_body() if method == "POST" else None).status == 400


@pytest.mark.parametrize("asked", [
    "", "?all=1", '?filters={"label":["vaporforge.deployment=other"]}', "?filters=",
    "?filters=%7B%7D&all=true",
])
def test_a_list_always_carries_the_proxy_s_own_filter(asked):
    done = forward("GET", "/v1.41/containers/json" + asked)
    assert json.loads(done.query["filters"]) == {"label": [f"{DEPLOYMENT_LABEL}=vftest"]}
    assert set(done.query) == {"all", "filters"}


def test_per_container_calls_go_to_the_full_id_the_engine_answered():
    assert forward("POST", "/v1.41/containers/c-ours/stop?t=5").path == \
        f"/v1.41/containers/{'a' * 64}/stop"
    removed = forward("DELETE", "/containers/c-ours?v=True&force=True&link=False")
    assert removed.path == f"/containers/{'a' * 64}"
    assert removed.query == {"v": "1", "force": "1"}  # link never goes on
    started = forward("POST", "/exec/e-ours/start", {"Detach": False, "Tty": True}, True)
    assert started.path == f"/exec/{'e' * 64}/start" and started.upgrade
    assert not forward("POST", "/exec/e-ours/start", {"Detach": True, "Tty": False},
                       True).upgrade


def test_the_head_sent_on_is_the_proxy_s_own():
    head = forward("POST", "/v1.41/containers/c-ours/kill?signal=KILL").head().decode()
    assert head == (f"POST /v1.41/containers/{'a' * 64}/kill?signal=KILL HTTP/1.1\r\n"
                    "Host: docker\r\nUser-Agent: vaporforge-docker-proxy\r\n"
                    "Connection: close\r\n\r\n")


def test_an_exec_runs_as_the_spec_s_user_with_the_cli_s_environment():
    done = forward("POST", "/containers/c-ours/exec", {
        "Container": "c-ours", "User": "", "Privileged": False, "Tty": True,
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "Cmd": ["sh"],
        "Env": ["TERM=xterm-256color", "HOME=/home/login"], "WorkingDir": "/home/login"})
    assert done.path == f"/containers/{'a' * 64}/exec"
    assert json.loads(done.body) == {
        "User": SPEC_USER, "Privileged": False, "Cmd": ["sh"], "Tty": True,
        "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
        "Env": ["TERM=xterm-256color", "HOME=/home/login"], "WorkingDir": "/home/login"}


@pytest.mark.parametrize(("body", "why"), [
    ({"Cmd": ["sh"], "Privileged": True}, "Privileged"),
    ({"Cmd": ["sh"], "User": "0"}, "User"),
    ({"Cmd": ["sh"], "User": "root"}, "User"),
    ({"Cmd": ["sh"], "privileged": True, "user": "root"}, "privileged"),
    ({"Cmd": ["sh"], "Env": ["LD_PRELOAD=/tmp/x.so"]}, "LD_PRELOAD"),
    ({"Cmd": ["sh"], "Env": ["NODE_OPTIONS=--require=/tmp/x"]}, "NODE_OPTIONS"),
    ({"Cmd": ["sh"], "WorkingDir": "/"}, "WorkingDir"),
    ({"Cmd": ["sh"], "Tty": "true"}, "Tty"),
    ({"Cmd": "sh"}, "Cmd"),
    ({"Cmd": ["sh"], "DetachKeys": "ctrl-p"}, "DetachKeys"),
])
def test_a_privileged_root_or_foreign_exec_is_refused(body, why):
    assert why in str(refusal("POST", "/containers/c-ours/exec", body))


@pytest.mark.parametrize(("method", "target"), [
    ("GET", "/v1.41/containers/json?all=1&filters=%7B%7D&filters=%7B%7D"),
    ("POST", "/containers/c-theirs/start"),
    ("DELETE", "/containers/c-theirs"),
    ("POST", "/containers/c-alpine/exec"),
    ("POST", "/containers/nope/start"),
    ("POST", "/containers/c-ours/attach"),
    ("POST", "/containers/c-ours/update"),
    ("POST", "/containers/c-ours/start?detachKeys=x"),
    ("GET", "/containers/c-ours/archive?path=/"),
    ("POST", "/exec/e-theirs/start"),
    ("POST", "/exec/nope/start"),
    ("POST", "/images/create?fromImage=alpine"),
    ("POST", "/build"),
    ("GET", "/info"),
    ("POST", "/volumes/create"),
    ("POST", "/networks/create"),
    ("POST", "/swarm/init"),
    ("GET", "/containers/c-ours/../../info"),
    ("GET", "/containers/c-ours%2F..%2F..%2Finfo/json"),
    ("GET", "/v2.0/version"),
])
def test_everything_else_is_refused(method, target):
    refusal(method, target)


# The proxy on the real engine: the engine's inspect is the judge ----------------------

docker = pytest.mark.docker
EXPIRES = str(int(time.time()) + 3600)


def attack_create(kit: ProxyKit, raw_body: bytes) -> bytes:
    return kit.send("POST", "/v1.41/containers/create", raw_body)


@docker
@pytest.mark.parametrize("name", [
    "duplicate_hostconfig", "user_00", "allow_all_seccomp", "unmasked_proc",
    "other_runtime", "no_limits", "capabilities_kept", "writable_root", "another_network",
    "host_network", "lower_case_privileged",
])
def test_a_create_attack_makes_the_spec_container_or_none(proxy_kit: ProxyKit, name: str):
    labels = {DEPLOYMENT_LABEL: proxy_kit.spec.deployment, "vaporforge.session": "atk",
              "vaporforge.expires_at": EXPIRES}
    user = '"User": "10001:10001"'
    start = f'{{"Image": "{IMAGE}", "Labels": {json.dumps(labels)}, '
    bodies = {
        "duplicate_hostconfig": start + f'{user}, "HostConfig": {{"Privileged": true, '
                                '"Binds": ["/:/host"]}, "HostConfig": {}}',
        "user_00": start + '"User": "00"}',
        "allow_all_seccomp": start + user + ', "HostConfig": {"SecurityOpt": '
                             '["seccomp={\\"defaultAction\\":\\"SCMP_ACT_ALLOW\\"}"]}}',
        "unmasked_proc": start + user + ', "HostConfig": {"MaskedPaths": [], '
                         '"ReadonlyPaths": []}}',
        "other_runtime": start + user + ', "HostConfig": {"Runtime": "io.containerd.runc.v2"}}',
        "no_limits": start + user + ', "HostConfig": {"Memory": 0, "MemorySwap": -1, '
                     '"PidsLimit": -1, "NanoCpus": 0}}',
        "capabilities_kept": start + user + ', "HostConfig": {"CapDrop": []}}',
        "writable_root": start + user + ', "HostConfig": {"ReadonlyRootfs": false}}',
        "another_network": start + user + ', "NetworkingConfig": {"EndpointsConfig": '
                           '{"host": {}}}}',
        "host_network": start + user + ', "HostConfig": {"NetworkMode": "host"}}',
        "lower_case_privileged": start + user + ', "hostconfig": {"privileged": true}}',
    }
    answer = attack_create(proxy_kit, bodies[name].encode())
    made = proxy_kit.containers()
    for container in made:  # the engine's word first: what was really made
        assert_spec_container(proxy_kit.engine.api.inspect_container(container["Id"]),
                              proxy_kit.spec)
    assert made == [] and answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 403")), answer[:200]


@docker
def test_an_omitted_field_gets_the_spec_s_value_on_the_engine(proxy_kit: ProxyKit):
    labels = {DEPLOYMENT_LABEL: proxy_kit.spec.deployment, "vaporforge.session": "bare",
              "vaporforge.expires_at": EXPIRES}
    answer = attack_create(proxy_kit, json.dumps({"Labels": labels}).encode())
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    (made,) = proxy_kit.containers()
    assert_spec_container(proxy_kit.engine.api.inspect_container(made["Id"]), proxy_kit.spec)


@docker
@pytest.mark.parametrize("body", [
    {"Cmd": ["id"], "privileged": True, "user": "root"},
    {"Cmd": ["id"], "Privileged": True},
    {"Cmd": ["id"], "User": "0"},
    {"Cmd": ["id"], "User": "00:00"},
])
def test_an_exec_attack_makes_no_root_or_privileged_exec(proxy_kit: ProxyKit, body: dict):
    place = proxy_kit.login()
    answer = proxy_kit.send("POST", f"/v1.41/containers/{place.container_id}/exec",
                            json.dumps(body).encode())
    inspected = proxy_kit.engine.api.inspect_container(place.container_id)
    for exec_id in inspected.get("ExecIDs") or []:
        assert_spec_exec(proxy_kit.engine.api.exec_inspect(exec_id), proxy_kit.spec)
    assert not inspected.get("ExecIDs") and answer.startswith(b"HTTP/1.1 403"), answer[:200]


@docker
def test_an_exec_with_an_empty_user_runs_as_the_spec_s_user(proxy_kit: ProxyKit):
    place = proxy_kit.login()
    exec_id = proxy_kit.client.api.exec_create(place.container_id, ["id", "-u"], user="")["Id"]
    assert_spec_exec(proxy_kit.engine.api.exec_inspect(exec_id), proxy_kit.spec)
    assert proxy_kit.client.api.exec_start(exec_id).strip() == str(proxy_kit.spec.uid).encode()


@docker
def test_a_list_shows_only_this_deployment_however_the_filter_is_written(proxy_kit: ProxyKit):
    foreign = proxy_kit.foreign_container()
    mine = proxy_kit.login().container_id
    twice = f'filters=&filters={{"label":["{DEPLOYMENT_LABEL}={proxy_kit.spec.deployment}"]}}'
    for query in (twice, "filters=", "all=1", ""):
        answer = proxy_kit.send("GET", "/v1.41/containers/json?" + query)
        assert foreign.encode() not in answer
        if b"HTTP/1.1 200" in answer[:20]:
            assert mine.encode() in answer


@docker
def test_a_prefix_or_a_name_reaches_only_the_container_the_engine_named(proxy_kit: ProxyKit):
    place = proxy_kit.login()
    short = place.container_id[:12]
    assert proxy_kit.send("GET", f"/v1.41/containers/{short}/json").startswith(b"HTTP/1.1 200")
    foreign = proxy_kit.foreign_container()
    for ident in (foreign[:12], proxy_kit.foreign_name):
        answer = proxy_kit.send("POST", f"/v1.41/containers/{ident}/kill")
        assert answer.startswith(b"HTTP/1.1 403")
    assert proxy_kit.engine.api.inspect_container(foreign)["State"]["Running"]


@docker
def test_the_docker_runtime_works_through_the_proxy(proxy_kit: ProxyKit):
    from worker.runtimes.base import SpawnSpec

    runtime = proxy_kit.runtime()
    assert runtime.version(proxy_kit.spec.login_command)
    place = proxy_kit.login()
    child = place.spawn(SpawnSpec(argv=("/bin/sh", "-c", "read x; echo got-$x"), env={},
                                  cols=80, rows=24))
    child.sendline("hello")
    child.expect("got-hello", timeout=10)
    assert place.read_file("nothing-here") is None
    child.close()
    place.stop()
    assert runtime.reap(set()) == 0


@docker
def test_a_worker_whose_spec_drifted_is_refused_naming_the_field(proxy_kit: ProxyKit):
    from docker.errors import APIError

    from vaporforge.errors import RuntimeFailure

    drifted = proxy_kit.runtime(pids=4096)
    with pytest.raises(RuntimeFailure) as failed:
        drifted.start("drift", int(EXPIRES))
    cause = failed.value.__cause__
    assert isinstance(cause, APIError) and cause.status_code == 403
    assert "HostConfig.PidsLimit differs" in str(cause)


@docker
def test_no_second_request_rides_on_an_allowed_one(proxy_kit: ProxyKit):
    """An Upgrade on a call that does not hijack, or on an exec start the engine
    does not turn into a stream (Detach), must not open a raw pipe to the engine."""
    info = b"GET /info HTTP/1.1\r\nHost: docker\r\n\r\n"
    upgrade = b"Connection: Upgrade\r\nUpgrade: tcp\r\n"
    answer = raw_request(proxy_kit.path, b"GET /_ping HTTP/1.1\r\nHost: docker\r\n" + upgrade
                         + b"\r\n" + info)
    assert answer.count(b"HTTP/1.1 ") == 1 and b"KernelVersion" not in answer
    place = proxy_kit.login()
    exec_id = proxy_kit.client.api.exec_create(place.container_id, ["true"])["Id"]
    body = b'{"Detach": true, "Tty": false}'
    answer = raw_request(proxy_kit.path, (
        f"POST /exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n").encode()
        + upgrade + b"\r\n" + body + info)
    assert answer.startswith(b"HTTP/1.1 200") and b"KernelVersion" not in answer
    twice = raw_request(proxy_kit.path, b"GET /_ping HTTP/1.1\r\nContent-Length: 0\r\n"
                        b"Content-Length: 5\r\n\r\n")
    assert twice.startswith(b"HTTP/1.1 400")
