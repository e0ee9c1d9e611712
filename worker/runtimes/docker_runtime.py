"""DockerRuntime: one hardened, throwaway login container per session.

With :mod:`worker.runtimes.docker_exec` (the CLI as a pexpect child over an
exec's socket), the only module that imports the docker SDK. Each session gets
the container :class:`vaporforge.login_container.LoginContainerSpec` describes
(the same spec the socket proxy forwards, and nothing else): no capabilities,
no-new-privileges, a read-only root filesystem, HOME and /tmp on small noexec
tmpfs mounts, memory, CPU and pids limits, no host mounts, labels
``vaporforge.session``, ``vaporforge.expires_at`` and ``vaporforge.deployment``.
Its PID 1 only waits (until ``expires_at`` at most); the CLI runs through an
exec with a TTY whose socket becomes a pexpect child, and the credentials file
is read back with an exec of ``cat`` (``get_archive`` cannot read a tmpfs under
dockerd).
"""

from __future__ import annotations

import posixpath
import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import docker
from docker.errors import APIError, NotFound

from vaporforge import defaults
from vaporforge.errors import RuntimeFailure
from vaporforge.login_container import (
    DEPLOYMENT_LABEL,
    EXPIRES_LABEL,
    HOME,
    PROBE_LABEL,
    SESSION_LABEL,
    LoginContainerSpec,
    LoginVariables,
)
from worker.runtimes.base import SpawnSpec
from worker.runtimes.docker_exec import ExecChild, docker_errors, spawn_exec

__all__ = ["DEPLOYMENT_LABEL", "EXPIRES_LABEL", "PROBE_LABEL", "SESSION_LABEL",
           "DockerLoginPlace", "DockerRuntime"]
_MISSING = 3  # exit status of the read_file exec when the file does not exist
_READ = 'test -e "$1" || exit 3; exec cat -- "$1"'


def _remove(api: docker.APIClient, container_id: str) -> bool:
    """Force-remove; False when it was already gone (or going)."""
    try:
        api.remove_container(container_id, force=True, v=True)
    except NotFound:
        return False
    except APIError as exc:
        if exc.status_code == 409:  # removal already in progress (auto-remove)
            return False
        raise
    return True


class DockerLoginPlace:
    """One session's container; see the module docstring."""

    home = HOME

    def __init__(self, api: docker.APIClient, container_id: str) -> None:
        self.api, self.container_id = api, container_id
        self._children: list[ExecChild] = []
        self._stopped = False

    def spawn(self, spec: SpawnSpec) -> ExecChild:
        if not spec.argv:
            raise RuntimeFailure("Nothing to run in the login container.")
        env = {"HOME": HOME, "TERM": "xterm-256color", "LANG": "C.UTF-8", **spec.env}
        return spawn_exec(self.api, self.container_id, spec.argv, env, (spec.cols, spec.rows),
                          HOME, self._children)

    def read_file(self, path: str) -> bytes | None:
        rel = posixpath.normpath(path)
        if rel.startswith(("/", "../")) or rel in (".", ".."):
            raise RuntimeFailure("Only files inside the login HOME can be read.")
        with docker_errors("Could not read a file in the login container."):
            exec_id = self.api.exec_create(
                self.container_id,
                ["/bin/sh", "-c", _READ, "read", f"{HOME}/{rel}"],
                stdout=True,
                stderr=True,
            )["Id"]
            out, _err = self.api.exec_start(exec_id, demux=True)
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        if code == _MISSING:
            return None
        if code != 0:
            raise RuntimeFailure("Could not read a file in the login container.")
        return out or b""

    def stop(self) -> None:
        for child in self._children:
            child.release()
        self._children.clear()
        if self._stopped:
            return
        with docker_errors("Could not remove the login container."):
            _remove(self.api, self.container_id)
        self._stopped = True


class DockerRuntime:
    """Makes login containers on one Docker engine; safe to share across threads.

    What a container is comes from one :class:`LoginContainerSpec` (the same one
    the socket proxy builds from its own settings): the keywords below fill it, or
    :meth:`from_spec` takes it whole. ``spec.deployment`` labels every container
    this runtime makes, and ``reap`` touches no container without that label:
    deployments that share an engine never remove each other's logins.
    ``start_grace`` seconds is how long a fresh container is safe from ``reap``:
    its session may be newer than the live ids the reaper read just before it
    listed the containers.
    """

    name = "docker"

    def __init__(
        self,
        image: str,
        *,
        network: str = defaults.DOCKER_NETWORK,
        memory: str = defaults.DOCKER_MEMORY,
        cpus: float = defaults.DOCKER_CPUS,
        pids: int = defaults.DOCKER_PIDS,
        tmpfs_size: str = defaults.DOCKER_HOME_SIZE,
        docker_runtime: str | None = None,
        extra_hosts: dict[str, str] | None = None,
        uid: int = defaults.DOCKER_UID,
        deployment: str = defaults.KEY_PREFIX,
        login_command: tuple[str, ...] = (defaults.LOGIN_COMMAND,),
        login_env: tuple[str, ...] = (),
        start_grace: float = defaults.DOCKER_START_GRACE,
        client: docker.DockerClient | None = None,
        base_url: str | None = None,
        api_version: str = "auto",
        timeout: int = defaults.DOCKER_TIMEOUT,
    ) -> None:
        self.spec = LoginContainerSpec(
            image=image, deployment=deployment, login_command=tuple(login_command),
            network=network, runtime=docker_runtime or None, memory=memory, cpus=cpus,
            pids=pids, home_size=tmpfs_size, extra_hosts=dict(extra_hosts or {}),
            login_env=tuple(login_env), uid=uid)
        self.start_grace = start_grace
        self._client, self._lock = client, threading.Lock()
        self._base_url, self._api_version, self._timeout = base_url, api_version, timeout

    @classmethod
    def from_spec(cls, spec: LoginContainerSpec, **connection: Any) -> DockerRuntime:
        """A runtime for ``spec``; ``connection``: start_grace, client, base_url,
        api_version, timeout."""
        runtime = cls(spec.image, **connection)
        runtime.spec = spec
        return runtime

    @property
    def deployment(self) -> str:
        return self.spec.deployment

    @property
    def api(self) -> docker.APIClient:
        """The low-level client, made on first use (so construction needs no engine)."""
        with self._lock:
            if self._client is None:
                with docker_errors("The Docker engine cannot be reached."):
                    self._client = docker.DockerClient(
                        self._base_url or defaults.DOCKER_HOST,
                        version=self._api_version,
                        timeout=self._timeout,
                    )
            return self._client.api

    def _create(self, spec: LoginContainerSpec, variables: LoginVariables) -> str:
        """Create and start one container exactly as ``spec`` says."""
        api = self.api
        cid = api.create_container_from_config(spec.create_body(variables))["Id"]
        try:
            api.start(cid)
        except BaseException:
            _remove(api, cid)
            raise
        return cid

    def start(self, session_id: str, expires_at: int) -> DockerLoginPlace:
        variables = LoginVariables(int(expires_at), session_id=session_id)
        with docker_errors("Could not start a login container."):
            cid = self._create(self.spec, variables)
        return DockerLoginPlace(self.api, cid)

    def reap(self, live_session_ids: set[str]) -> int:
        """Remove this deployment's containers that are past ``expires_at``, and
        its login containers whose session is not live, once older than
        ``start_grace``. A probe lives until its expiry: its own worker removes it."""
        now = time.time()
        ended = 0
        mine = {"label": [f"{DEPLOYMENT_LABEL}={self.deployment}"]}
        with docker_errors("Could not list or remove login containers."):
            for c in self.api.containers(all=True, filters=mine):
                labels = c.get("Labels") or {}
                if SESSION_LABEL not in labels and PROBE_LABEL not in labels:
                    continue  # not made by a runtime
                expires = labels.get(EXPIRES_LABEL, "")
                if expires.isdigit() and int(expires) > now and (
                    PROBE_LABEL in labels
                    or labels.get(SESSION_LABEL) in live_session_ids
                    or now - float(c.get("Created") or 0) < self.start_grace
                ):
                    continue
                ended += _remove(self.api, c["Id"])
        return ended

    def version(self, login_command: tuple[str, ...]) -> str:
        expires_at = int(time.time()) + defaults.DOCKER_PROBE_TTL
        variables = LoginVariables(expires_at, probe_id=uuid.uuid4().hex)
        spec = replace(self.spec, login_command=tuple(login_command))
        api = self.api
        with docker_errors("Could not run the CLI's --version in a container."):
            cid = self._create(spec, variables)
            try:
                code = api.wait(cid, timeout=defaults.DOCKER_TIMEOUT).get("StatusCode")
                out = api.logs(cid, stdout=True, stderr=False)
            finally:
                _remove(api, cid)
        if code != 0:
            raise RuntimeFailure("The CLI's --version failed in the login container.")
        return out.decode("utf-8", "replace").strip()
