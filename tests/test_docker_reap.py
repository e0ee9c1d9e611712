"""Reaping on a shared Docker engine (VF_DOCKER_TESTS=1): each deployment's
reaper touches only its own containers, and never a container another worker
of its own deployment is still starting (a fresh login container, a start-up
``--version`` probe). The basic sweep and the probe run under runc and under
gVisor (``runsc``)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.support.oci_runtimes import PIDS, RUNTIMES, engine_setting, require_runtime
from tests.support.tiers import require_docker
from worker.runtimes.docker_runtime import (
    DEPLOYMENT_LABEL,
    EXPIRES_LABEL,
    PROBE_LABEL,
    SESSION_LABEL,
    DockerRuntime,
)

pytestmark = pytest.mark.docker

require_docker()

IMAGE = os.environ.get("VF_TEST_LOGIN_IMAGE", "vaporforge/login-test:latest")
VERSION = (Path(__file__).resolve().parent.parent / "CLAUDE_CODE_VERSION").read_text().strip()


@pytest.fixture
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def names(engine: docker.DockerClient) -> Iterator[dict[str, str]]:
    """Two deployment names unique to this test; their containers go at the end."""
    run = uuid.uuid4().hex[:8]
    made = {"a": f"test-a-{run}", "b": f"test-b-{run}"}
    yield made
    for name in made.values():
        for c in engine.api.containers(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={name}"}):
            engine.api.remove_container(c["Id"], force=True)


def runtime(deployment: str, oci: str = "runc", **kwargs: float) -> DockerRuntime:
    """A worker's runtime; ``oci``: runc (the engine's default) or runsc."""
    return DockerRuntime(IMAGE, network="none", memory="128m", pids=PIDS[oci],
                         docker_runtime=engine_setting(oci) or None, deployment=deployment,
                         base_url=os.environ.get("DOCKER_HOST"), **kwargs)


def containers(engine: docker.DockerClient, deployment: str) -> dict[str, dict]:
    """This deployment's containers by session id (or probe id), with their state."""
    found = engine.api.containers(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}"})
    return {c["Labels"].get(SESSION_LABEL) or c["Labels"][PROBE_LABEL]: c for c in found}


@pytest.mark.parametrize("oci", RUNTIMES)
def test_two_deployments_never_reap_each_others_containers(engine, names, oci):
    require_runtime(engine, oci)
    staging = runtime(names["a"], oci, start_grace=0)
    production = runtime(names["b"], oci, start_grace=0)
    expires = int(time.time()) + 300
    places = [staging.start("staging-login", expires),
              production.start("production-login", expires)]
    try:
        attrs = engine.api.inspect_container(places[0].container_id)
        assert attrs["HostConfig"]["Runtime"] == oci
        labels = attrs["Config"]["Labels"]
        assert labels[DEPLOYMENT_LABEL] == names["a"]
        assert labels[SESSION_LABEL] == "staging-login"

        # Each reaper knows only its own live sessions: the other's login is unknown to it.
        assert production.reap({"production-login"}) == 0
        assert staging.reap({"staging-login"}) == 0
        assert set(containers(engine, names["a"])) == {"staging-login"}
        assert set(containers(engine, names["b"])) == {"production-login"}
        assert containers(engine, names["a"])["staging-login"]["State"] == "running"

        # Staging's login ends; staging's reaper removes its container, production's stays.
        assert staging.reap(set()) == 1
        assert containers(engine, names["a"]) == {}
        assert containers(engine, names["b"])["production-login"]["State"] == "running"
    finally:
        for place in places:
            place.stop()


def test_a_crashed_workers_leftovers_go_only_within_its_deployment(engine, names):
    past = str(int(time.time()) - 5)
    for deployment in names.values():  # what a worker killed during its probe leaves
        engine.api.create_container(IMAGE, ["true"], labels={
            DEPLOYMENT_LABEL: deployment, PROBE_LABEL: uuid.uuid4().hex, EXPIRES_LABEL: past})
    assert runtime(names["a"]).reap(set()) == 1
    assert containers(engine, names["a"]) == {}
    assert len(containers(engine, names["b"])) == 1


def test_a_fresh_login_container_is_safe_from_another_workers_reaper(engine, names):
    starting = runtime(names["a"]).start("just-created", int(time.time()) + 300)
    try:
        # Another worker of the same deployment read the live sessions a moment
        # before this one was created: its reaper must not take the container.
        assert runtime(names["a"]).reap(set()) == 0
        assert containers(engine, names["a"])["just-created"]["State"] == "running"
        assert runtime(names["a"], start_grace=0).reap(set()) == 1
    finally:
        starting.stop()


@pytest.mark.parametrize("oci", RUNTIMES)
def test_a_start_up_probe_survives_another_workers_reaper(engine, names, oci):
    require_runtime(engine, oci)
    other = runtime(names["a"], oci, start_grace=0)
    result: list[str | BaseException] = []

    def probe() -> None:
        try:
            result.append(runtime(names["a"], oci).version(("claude",)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            result.append(exc)

    thread = threading.Thread(target=probe)
    thread.start()
    reaps = 0
    while thread.is_alive():  # a reaper sweeping as fast as it can meanwhile
        other.reap(set())
        reaps += 1
    thread.join()
    assert reaps > 1
    assert isinstance(result[0], str) and result[0].startswith(VERSION), result
    assert containers(engine, names["a"]) == {}  # the probe removed its own container
