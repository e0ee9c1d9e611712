"""DockerRuntime: one hardened, throwaway login container per session.

The only module that imports the docker SDK. Each session gets a container from
the login image (``container-image/``): no capabilities, no-new-privileges, a
read-only root filesystem, HOME and /tmp on small noexec tmpfs mounts, memory,
CPU and pids limits, no host mounts, labels ``vaporforge.session``,
``vaporforge.expires_at`` and ``vaporforge.deployment``. Its PID 1 only waits
(until ``expires_at`` at most); the CLI runs through an exec with a TTY whose
socket becomes a pexpect child, and the credentials file is read back with an
exec of ``cat`` (``get_archive`` cannot read a tmpfs under dockerd). Exec
sockets are raw streams only over a ``unix://`` or plain ``tcp://`` engine
address, not TLS or ssh.
"""

from __future__ import annotations

import os
import posixpath
import select
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.types import LogConfig, Ulimit
from pexpect.fdpexpect import fdspawn

from vaporforge import defaults
from vaporforge.errors import RuntimeFailure
from worker.runtimes.base import SpawnSpec

SESSION_LABEL = "vaporforge.session"
EXPIRES_LABEL = "vaporforge.expires_at"
DEPLOYMENT_LABEL = "vaporforge.deployment"
PROBE_LABEL = "vaporforge.probe"  # a worker's start-up ``--version`` container
HOME = "/home/login"
_MISSING = 3  # exit status of the read_file exec when the file does not exist
# $1 cols, $2 rows, $3 spawn token, then the argv. Record the pid (for
# terminate), set the PTY size, wait with echo off for the line the worker sends
# once it holds the socket (so no output can be lost), print a marker that ends
# whatever came before (the line's echo, if it beat stty), then exec the argv.
_LAUNCH = (
    'echo $$ > "/tmp/vf-spawn-$3.pid"; stty cols "$1" rows "$2" -echo; read -r _; '
    'stty echo; printf "vaporforge-spawn %s\\n" "$3"; shift 3; exec "$@"'
)
# Signal a spawned process group: $1 signal name, $2 spawn token.
_KILL = 'p=$(cat "/tmp/vf-spawn-$2.pid") && kill -s "$1" -- "-$p" "$p" 2>/dev/null; true'
_READ = 'test -e "$1" || exit 3; exec cat -- "$1"'


@contextmanager
def _docker_errors(message: str) -> Iterator[None]:
    """Turn any engine error into a RuntimeFailure with a fixed message."""
    try:
        yield
    except (DockerException, requests.RequestException, OSError) as exc:
        raise RuntimeFailure(message) from exc


def _skip_through(fd: int, marker: bytes, timeout: float = 15.0) -> None:
    """Read ``fd`` up to the end of ``marker`` and not one byte further: each read
    asks only for as many bytes as could complete the marker."""
    tail = b""
    deadline = time.monotonic() + timeout
    while not tail.endswith(marker):
        part = next((n for n in range(len(marker) - 1, 0, -1) if tail.endswith(marker[:n])), 0)
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeFailure("The CLI did not start in the login container in time.")
        chunk = os.read(fd, len(marker) - part)
        if not chunk:
            raise RuntimeFailure("The CLI did not start in the login container.")
        tail = (tail + chunk)[-len(marker) :]


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


class ExecChild(fdspawn):
    """A pexpect child on an exec's TTY socket; knows the exec's state."""

    def __init__(
        self, fd: int, sock: Any, place: DockerLoginPlace, exec_id: str, token: str
    ) -> None:
        super().__init__(fd, encoding="utf-8", codec_errors="replace")
        self._sock, self._api, self._container_id = sock, place.api, place.container_id
        self._exec_id, self._token = exec_id, token

    def _inspect(self) -> dict[str, Any]:
        with _docker_errors("Could not check the login process."):
            return self._api.exec_inspect(self._exec_id)

    def isalive(self) -> bool:
        """True while the socket is open and the exec runs (asks the engine)."""
        return super().isalive() and bool(self._inspect().get("Running"))

    def wait(self, timeout: float = 10.0) -> int | None:
        """The exec's exit code, waiting up to ``timeout`` s; None if it still runs."""
        deadline = time.monotonic() + timeout
        while True:
            state = self._inspect()
            if not state.get("Running"):
                self.exitstatus = self.status = state.get("ExitCode")
                return self.exitstatus
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def signal_group(self, sig: str) -> None:
        """Send ``sig`` (a name: HUP, TERM, KILL) to the spawned process group."""
        cmd = ["/bin/sh", "-c", _KILL, "vaporforge-kill", sig, self._token]
        with _docker_errors("Could not signal the login process."):
            exec_id = self._api.exec_create(self._container_id, cmd)["Id"]
            self._api.exec_start(exec_id)

    def terminate(self, force: bool = False) -> bool:
        """HUP, then TERM (then KILL if ``force``); True once the process is gone."""
        for sig in ("HUP", "TERM", "KILL")[: 3 if force else 2]:
            self.signal_group(sig)
            if self.wait(timeout=0.5) is not None:
                return True
        return False

    def close(self, force: bool = True) -> None:
        """End the process if it still runs, then release the socket."""
        if not self.closed and self._inspect().get("Running"):
            self.terminate(force)
        self.release()

    def release(self) -> None:
        """Close the socket only (the container's removal ends the process)."""
        if self.child_fd != -1:
            super().close()
        with suppress(OSError):
            self._sock.close()


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
        token = uuid.uuid4().hex
        size = [str(spec.cols), str(spec.rows)]
        cmd = ["/bin/sh", "-c", _LAUNCH, "vaporforge-spawn", *size, token, *spec.argv]
        with _docker_errors("Could not start the CLI in the login container."):
            exec_id = self.api.exec_create(
                self.container_id, cmd, stdin=True, tty=True, environment=env, workdir=HOME
            )["Id"]
            sock = self.api.exec_start(exec_id, tty=True, socket=True)
            # Our own descriptor, blocking, independent of the SDK's socket objects.
            fd = os.dup(sock.fileno())
            os.set_blocking(fd, True)
            child = ExecChild(fd, sock, self, exec_id, token)
            self._children.append(child)
            os.write(fd, b"\n")  # let _LAUNCH go on to exec the CLI
        _skip_through(fd, f"vaporforge-spawn {token}\r\n".encode())
        return child

    def read_file(self, path: str) -> bytes | None:
        rel = posixpath.normpath(path)
        if rel.startswith(("/", "../")) or rel in (".", ".."):
            raise RuntimeFailure("Only files inside the login HOME can be read.")
        with _docker_errors("Could not read a file in the login container."):
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
        with _docker_errors("Could not remove the login container."):
            _remove(self.api, self.container_id)
        self._stopped = True


class DockerRuntime:
    """Makes login containers on one Docker engine; safe to share across threads.

    ``deployment`` (``Settings.deployment``) labels every container this runtime
    makes, and ``reap`` touches no container without that label: deployments that
    share an engine never remove each other's logins. ``start_grace`` seconds is
    how long a fresh container is safe from ``reap``: its session may be newer
    than the live ids the reaper read just before it listed the containers.
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
        start_grace: float = defaults.DOCKER_START_GRACE,
        client: docker.DockerClient | None = None,
        base_url: str | None = None,
        api_version: str = "auto",
        timeout: int = defaults.DOCKER_TIMEOUT,
    ) -> None:
        self.image, self.network, self.memory = image, network, memory
        self.cpus, self.pids, self.tmpfs_size = cpus, pids, tmpfs_size
        self.docker_runtime, self.uid = docker_runtime or None, uid
        self.extra_hosts = dict(extra_hosts or {})
        self.deployment, self.start_grace = deployment, start_grace
        self._client, self._lock = client, threading.Lock()
        self._base_url, self._api_version, self._timeout = base_url, api_version, timeout

    @property
    def api(self) -> docker.APIClient:
        """The low-level client, made on first use (so construction needs no engine)."""
        with self._lock:
            if self._client is None:
                with _docker_errors("The Docker engine cannot be reached."):
                    self._client = docker.DockerClient(
                        self._base_url or defaults.DOCKER_HOST,
                        version=self._api_version,
                        timeout=self._timeout,
                    )
            return self._client.api

    def _create(self, labels: dict[str, str], command: list[str] | None = None) -> str:
        """Create and start a hardened container. A login one (no ``command``) keeps
        no log and removes itself when its PID 1 exits at ``expires_at``; a
        ``--version`` one keeps its log until it is removed."""
        api, uid, opts = self.api, self.uid, "rw,noexec,nosuid,nodev"
        host_config = api.create_host_config(
            network_mode=self.network,
            read_only=True,
            privileged=False,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            tmpfs={
                HOME: f"{opts},size={self.tmpfs_size},mode=0700,uid={uid},gid={uid}",
                "/tmp": f"{opts},size=16m,mode=1777",
            },
            mem_limit=self.memory,
            memswap_limit=self.memory,
            nano_cpus=int(self.cpus * 1e9),
            pids_limit=self.pids,
            ipc_mode="private",
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            runtime=self.docker_runtime,
            extra_hosts=self.extra_hosts or None,
            auto_remove=command is None,
            log_config=LogConfig(type="none") if command is None else None,
        )
        env = {"VF_EXPIRES_AT": labels[EXPIRES_LABEL]}
        cid = api.create_container(
            self.image,
            command,
            user=f"{uid}:{uid}",
            labels={**labels, DEPLOYMENT_LABEL: self.deployment},
            environment=env,
            working_dir=HOME,
            host_config=host_config,
        )["Id"]
        try:
            api.start(cid)
        except BaseException:
            _remove(api, cid)
            raise
        return cid

    def start(self, session_id: str, expires_at: int) -> DockerLoginPlace:
        labels = {SESSION_LABEL: session_id, EXPIRES_LABEL: str(int(expires_at))}
        with _docker_errors("Could not start a login container."):
            cid = self._create(labels)
        return DockerLoginPlace(self.api, cid)

    def reap(self, live_session_ids: set[str]) -> int:
        """Remove this deployment's containers that are past ``expires_at``, and
        its login containers whose session is not live, once older than
        ``start_grace``. A probe lives until its expiry: its own worker removes it."""
        now = time.time()
        ended = 0
        mine = {"label": [f"{DEPLOYMENT_LABEL}={self.deployment}"]}
        with _docker_errors("Could not list or remove login containers."):
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
        labels = {PROBE_LABEL: uuid.uuid4().hex, EXPIRES_LABEL: str(expires_at)}
        api = self.api
        with _docker_errors("Could not run the CLI's --version in a container."):
            cid = self._create(labels, [*login_command, "--version"])
            try:
                code = api.wait(cid, timeout=60).get("StatusCode")
                out = api.logs(cid, stdout=True, stderr=False)
            finally:
                _remove(api, cid)
        if code != 0:
            raise RuntimeFailure("The CLI's --version failed in the login container.")
        return out.decode("utf-8", "replace").strip()
