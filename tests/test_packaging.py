"""The pieces that ship: one CLI pin everywhere, a valid compose file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PIN = (ROOT / "CLAUDE_CODE_VERSION").read_text().strip()


def test_pin_is_an_exact_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", PIN)


def test_dockerfile_default_matches_the_pin():
    dockerfile = (ROOT / "container-image" / "Dockerfile").read_text()
    assert f"ARG CLAUDE_CODE_VERSION={PIN}" in dockerfile


def test_simulator_reports_the_pinned_version():
    from tests.support import cli_simulator
    assert cli_simulator.VERSION == PIN


def test_compose_file_has_the_services_and_commands_operators_rely_on():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "api", "worker", "login-image", "edge", "docker-proxy"} <= set(services)
    assert services["api"]["command"][-1] == "api:create_app()"
    assert services["worker"]["command"][:4] == ["celery", "-A", "worker", "worker"]
    sockets = [name for name, svc in services.items()
               if any("docker.sock" in v for v in svc.get("volumes", []))]
    assert sockets == ["docker-proxy"]  # the worker reaches the engine through it
    assert services["worker"]["environment"]["DOCKER_HOST"].startswith("unix:///run/")
    assert "user" not in services["worker"]  # the image's unprivileged user
    # only the edge publishes ports; the API is behind it and trusts its one hop
    assert [name for name, svc in services.items() if "ports" in svc] == ["edge"]
    assert services["api"]["environment"]["VF_TRUSTED_PROXIES"] == "1"


def test_no_service_pulls_an_image_that_another_service_builds():
    """An image the stack builds exists in no registry. One service builds it (Compose
    v2 builds services in parallel, and two builds of one tag can collide); every
    other service naming it never pulls it (pull_policy, Compose v2) and depends on
    the builder, so docker-compose 1.29, which ignores pull_policy and pulls a missing
    image when it comes to a service, builds it first. The test override keeps that:
    the same tag for all of them, a build network for each service that builds."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    builders: dict[str, list[str]] = {}
    for name, svc in services.items():
        if "build" in svc:
            builders.setdefault(svc["image"], []).append(name)
    assert all(len(names) == 1 for names in builders.values()), builders
    for name, svc in services.items():
        if svc.get("image") in builders and "build" not in svc:
            assert svc.get("pull_policy") == "never", name
            assert builders[svc["image"]][0] in svc.get("depends_on", {}), name
    override = yaml.safe_load((ROOT / "tests/compose.test.yml").read_text())["services"]
    tags: dict[str, set[str]] = {}
    for name, svc in services.items():
        assert ("build" in override.get(name, {})) == ("build" in svc), name
        if "build" in svc:
            assert override[name]["build"] == {"network": "host"}, name
        if svc.get("image") in builders:
            tags.setdefault(svc["image"], set()).add(override[name]["image"])
    assert all(len(names) == 1 for names in tags.values()), tags


def _compose_client() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True, check=False).returncode == 0:
        return ["docker", "compose"]
    return None


@pytest.mark.skipif(_compose_client() is None, reason="no compose client")
def test_compose_config_validates():
    command = _compose_client()
    assert command is not None
    files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(ROOT / "tests/compose.test.yml")]
    for chosen in (files[:2], files):
        done = subprocess.run([*command, *chosen, "config", "-q"],
                              capture_output=True, text=True, cwd=ROOT, check=False)
        assert done.returncode == 0, done.stderr
