"""The OCI runtimes the Docker tests run login containers under: ``runc`` (the
engine's default) and ``runsc`` (gVisor; scripts/docker-engine.sh registers
Debian's runsc when it is installed, and scripts/test.sh installs it).

What differs between them, as measured on the private engine:

- **pids**: under runsc the container's pids cgroup holds gVisor's own host
  threads (the Sentry, the gofer, the ptrace stubs): about 38 for an idle login
  container and 80 with the CLI waiting at its prompt, so a limit of 64 stops
  the CLI from starting. runc counts only the CLI's processes (10 waiting).
- **inside**: gVisor reports its own kernel (``uname -r`` 4.4.0, a ``dmesg``
  that says ``Starting gVisor...``); its ``/proc/self/status`` has no
  ``NoNewPrivs`` line and ``Seccomp: 0`` (Docker's seccomp profile is not loaded
  inside the sandbox; the Sentry runs under gVisor's own filter on the host).
"""

from __future__ import annotations

import os

import docker
import pytest

RUNTIMES = ("runc", "runsc")
PIDS = {"runc": 64, "runsc": 128}
"""A pids limit each runtime runs a login under (runsc: gVisor's threads count too)."""


def engine_setting(runtime: str) -> str:
    """``VF_DOCKER_RUNTIME`` for ``runtime``: empty for runc, the engine's default."""
    return "" if runtime == "runc" else runtime


def require_runtime(engine: docker.DockerClient, runtime: str) -> None:
    """Go on only when the engine has ``runtime``: otherwise fail under CI (a
    missing install must not pass as a skip), skip elsewhere."""
    known = sorted(engine.info().get("Runtimes") or {})
    if runtime in known:
        return
    where = os.environ.get("DOCKER_HOST", "the default socket")
    message = (f"the Docker engine at {where} has no runtime {runtime!r} "
               f"(it has {', '.join(known)}): install Debian's runsc (apt-get install "
               "runsc) and restart the engine (scripts/docker-engine.sh stop, then start)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
