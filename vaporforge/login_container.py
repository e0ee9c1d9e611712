"""The login container, written once: what the worker asks the engine for, and
the only thing the Docker socket proxy ever forwards.

Pure (standard library only). :class:`LoginContainerSpec` holds the fixed part
of a login container (image, user, read-only root, dropped capabilities,
``no-new-privileges``, tmpfs HOME and /tmp, memory = swap, CPU, pids, no core
dumps, runtime, network, self-removal, logging); it is built from
:class:`~vaporforge.settings.Settings` on both sides. The worker's
``DockerRuntime`` sends :meth:`LoginContainerSpec.create_body`; the proxy
(``deploy/socket-proxy/``) reads from the worker's request only what varies per
login (:class:`LoginVariables`: the session or probe label, the expiry, a
command from :meth:`LoginContainerSpec.commands`) and serialises the body again
from its own spec, so a worker that describes another container is refused,
and one that tries gets exactly this container or none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vaporforge import defaults
from vaporforge.errors import ConfigError

if TYPE_CHECKING:
    from vaporforge.settings import Settings

SESSION_LABEL = "vaporforge.session"
EXPIRES_LABEL = "vaporforge.expires_at"
DEPLOYMENT_LABEL = "vaporforge.deployment"
PROBE_LABEL = "vaporforge.probe"
"""A worker's start-up ``--version`` container carries this instead of a session."""
EXPIRES_ENV = "VF_EXPIRES_AT"
"""The container's PID 1 waits until this time at most (container-image/entrypoint.sh)."""
HOME = "/home/login"
_TMPFS_OPTIONS = "rw,noexec,nosuid,nodev"
_SIZE = re.compile(r"^([0-9]+)([bkmg]?)$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""Session ids and probe ids as the worker makes them (``secrets.token_urlsafe``)."""

CLI_ENV = {
    "TERM": "xterm-256color",
    "LANG": "C.UTF-8",
    "CLAUDE_CODE_FULL_SIGN_IN_LINK": "1",
    "BROWSER": "true",  # a harmless command: the CLI's own browser launch does nothing
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
}
"""The environment every CLI gets, wherever it runs."""


def memory_bytes(size: str) -> int:
    """``512m`` -> bytes, as the docker CLI reads a memory size; ValueError if not one."""
    found = _SIZE.match(size.strip().lower())
    if not found:
        raise ValueError(f"not a memory size: {size!r} (e.g. 512m)")
    return int(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class LoginVariables:
    """What may differ between two login containers of one deployment."""

    expires_at: int
    session_id: str | None = None
    probe_id: str | None = None
    """Exactly one of ``session_id`` (a login) and ``probe_id`` (a ``--version`` probe)."""

    def __post_init__(self) -> None:
        if (self.session_id is None) == (self.probe_id is None):
            raise ValueError("a login container has a session id or a probe id, not both")
        ident = self.session_id or self.probe_id or ""
        if not LABEL_VALUE.match(ident):
            raise ValueError("a session or probe id is 1-128 of A-Z a-z 0-9 _ . -")
        if isinstance(self.expires_at, bool) or not 0 < self.expires_at < 10**12:
            raise ValueError("expires_at is a time in whole seconds")

    @property
    def probe(self) -> bool:
        return self.probe_id is not None


@dataclass(frozen=True)
class LoginContainerSpec:
    """The fixed part of every login container of one deployment."""

    image: str
    deployment: str
    login_command: tuple[str, ...] = (defaults.LOGIN_COMMAND,)
    network: str = defaults.DOCKER_NETWORK
    runtime: str | None = None
    memory: str = defaults.DOCKER_MEMORY
    cpus: float = defaults.DOCKER_CPUS
    pids: int = defaults.DOCKER_PIDS
    home_size: str = defaults.DOCKER_HOME_SIZE
    extra_hosts: Mapping[str, str] = field(default_factory=dict)
    login_env: tuple[str, ...] = ()
    """Names of the extra CLI variables (``VF_LOGIN_ENV``) an exec may set."""
    uid: int = defaults.DOCKER_UID

    def __post_init__(self) -> None:
        try:
            memory_bytes(self.memory)
        except ValueError as exc:
            raise ConfigError(f"VF_DOCKER_MEMORY: {exc}") from None
        if not self.login_command:
            raise ConfigError("VF_LOGIN_COMMAND is empty")

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginContainerSpec:
        return cls(
            image=settings.login_image, deployment=settings.deployment,
            login_command=tuple(settings.login_command), network=settings.docker_network,
            runtime=settings.docker_runtime or None, memory=settings.docker_memory,
            cpus=settings.docker_cpus, pids=settings.docker_pids,
            extra_hosts=dict(settings.docker_extra_hosts),
            login_env=tuple(sorted(settings.login_env)))

    @property
    def user(self) -> str:
        return f"{self.uid}:{self.uid}"

    @property
    def exec_env_names(self) -> frozenset[str]:
        """The variables an exec in a login container may set (the CLI's, nothing else)."""
        return frozenset({"HOME", *CLI_ENV, *self.login_env})

    def commands(self) -> tuple[list[str] | None, list[str]]:
        """What a container may run as PID 1: the image's own wait (None, a login)
        and the CLI's ``--version`` (a probe)."""
        return None, [*self.login_command, "--version"]

    def command_for(self, variables: LoginVariables) -> list[str] | None:
        wait, version = self.commands()
        return version if variables.probe else wait

    def labels(self, variables: LoginVariables) -> dict[str, str]:
        kind = PROBE_LABEL if variables.probe else SESSION_LABEL
        return {kind: variables.probe_id or variables.session_id or "",
                EXPIRES_LABEL: str(variables.expires_at), DEPLOYMENT_LABEL: self.deployment}

    def host_config(self, *, probe: bool) -> dict[str, Any]:
        """A login keeps no log and removes itself when its PID 1 ends at its expiry;
        a probe keeps its log (its ``--version``) until its worker removes it."""
        memory, uid = memory_bytes(self.memory), self.uid
        host: dict[str, Any] = {
            "NetworkMode": self.network,
            "ReadonlyRootfs": True,
            "Privileged": False,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Tmpfs": {
                HOME: f"{_TMPFS_OPTIONS},size={self.home_size},mode=0700,uid={uid},gid={uid}",
                "/tmp": f"{_TMPFS_OPTIONS},size=16m,mode=1777",
            },
            "Memory": memory,
            "MemorySwap": memory,
            "NanoCpus": int(self.cpus * 1e9),
            "PidsLimit": self.pids,
            "IpcMode": "private",
            "Ulimits": [{"Name": "core", "Soft": 0, "Hard": 0}],
            "AutoRemove": not probe,
        }
        if self.runtime:
            host["Runtime"] = self.runtime
        if self.extra_hosts:
            host["ExtraHosts"] = [f"{name}:{addr}" for name, addr in self.extra_hosts.items()]
        if not probe:
            host["LogConfig"] = {"Type": "none", "Config": {}}
        return host

    def create_body(self, variables: LoginVariables) -> dict[str, Any]:
        """The whole ``POST /containers/create`` body for one login or probe."""
        return {
            "Image": self.image,
            "Cmd": self.command_for(variables),
            "User": self.user,
            "WorkingDir": HOME,
            "Labels": self.labels(variables),
            "Env": [f"{EXPIRES_ENV}={variables.expires_at}"],
            "HostConfig": self.host_config(probe=variables.probe),
        }
