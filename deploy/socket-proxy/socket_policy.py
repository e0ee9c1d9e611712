"""What the Docker socket proxy lets through: the worker's calls, on its own containers.

Pure rules (no sockets): :func:`check` takes one parsed request and answers None
(forward it) or the reason for a 403. Allowed, with any ``/v1.NN`` prefix:

- ``GET|HEAD /_ping``, ``GET /version``: the SDK's version negotiation;
- ``GET /containers/json`` with a ``label`` filter naming this deployment;
- ``POST /containers/create`` of the login image, labelled with this deployment,
  with only the host settings a login container uses: never ``Privileged``, binds,
  mounts other than tmpfs, added capabilities, devices, host namespaces, published
  ports or a weakened security profile, and never as root;
- start, wait, kill, stop, inspect, logs, exec create and delete of a container
  that carries this deployment's label and was made from the login image (the
  proxy asks the engine before passing the call on);
- exec start, inspect and resize of an exec in such a container.

Everything else (images, volumes, networks, the engine's own settings, other
containers) is refused. Exec create may not be ``Privileged`` or run as root.

Why not a ready-made one: neither Debian (bookworm) nor PyPI packages a Docker
socket proxy; the well-known HAProxy-based ones filter by API section and method
only, and no HAProxy or nginx configuration can read a create's JSON body for
``Privileged``, ``Binds`` or ``CapAdd``, nor ask the engine whose container an id is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

DEPLOYMENT_LABEL = "vaporforge.deployment"
_VERSIONED = re.compile(r"^/v[0-9]+(?:\.[0-9]+)?(/.*)$")
_ID = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,127})"
CONTAINER_CALLS = {
    ("POST", "start"), ("POST", "wait"), ("POST", "kill"), ("POST", "stop"),
    ("GET", "json"), ("GET", "logs"), ("POST", "exec"),
}
EXEC_CALLS = {("POST", "start"), ("POST", "resize"), ("GET", "json")}
# Host settings a login container may carry (docker_runtime.DockerRuntime._create),
# with checks for the ones that could weaken it; any other key must be empty.
HOST_KEYS = {
    "NetworkMode", "ReadonlyRootfs", "Privileged", "CapDrop", "SecurityOpt", "Tmpfs",
    "Memory", "MemorySwap", "NanoCpus", "PidsLimit", "IpcMode", "Ulimits", "Runtime",
    "ExtraHosts", "AutoRemove", "LogConfig", "CpuShares", "CpuQuota", "CpuPeriod",
    "RestartPolicy", "Init",
}
LOG_DRIVERS = {"", "none", "json-file", "local"}
CREATE_KEYS = {
    "Image", "Cmd", "Entrypoint", "User", "Labels", "Env", "WorkingDir", "HostConfig",
    "NetworkingConfig", "Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout",
    "AttachStderr", "Hostname", "Domainname", "NetworkDisabled", "StopSignal",
    "StopTimeout", "Healthcheck", "ExposedPorts", "Volumes", "MacAddress",
}


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    body: bytes = b""


@dataclass(frozen=True)
class Policy:
    """``deployment``: the label value of this deployment's containers;
    ``image``: the login image, as the worker names it (VF_LOGIN_IMAGE)."""

    deployment: str
    image: str

    def image_allowed(self, name: str) -> bool:
        return _with_tag(name) == _with_tag(self.image)

    def ours(self, inspected: Mapping[str, Any] | None) -> bool:
        """True for a container (engine inspect data) this deployment may touch."""
        config = (inspected or {}).get("Config") or {}
        labels = config.get("Labels") or {}
        return (labels.get(DEPLOYMENT_LABEL) == self.deployment
                and self.image_allowed(str(config.get("Image") or "")))


Inspect = Callable[[str], "Mapping[str, Any] | None"]
"""Asks the engine about a container or exec by id; None when it does not exist."""


def check(policy: Policy, request: Request, container: Inspect, exec_: Inspect) -> str | None:
    """None to forward ``request``; else why it is refused."""
    path, _, query = request.target.partition("?")
    path = unquote(path)
    if "/.." in path or "//" in path or "\\" in path:
        return "malformed path"
    versioned = _VERSIONED.match(path)
    path = versioned.group(1) if versioned else path
    method = request.method
    if method in ("GET", "HEAD") and path == "/_ping" or method == "GET" and path == "/version":
        return None
    if method == "GET" and path == "/containers/json":
        return _check_list(policy, query)
    if method == "POST" and path == "/containers/create":
        return _check_create(policy, request.body)
    if found := re.fullmatch(rf"/containers/{_ID}(?:/([a-z]+))?", path):
        ident, action = found.group(1), found.group(2)
        allowed = (method, action) in CONTAINER_CALLS or (method == "DELETE" and not action)
        if not allowed:
            return f"{method} {path}: not a call the worker makes"
        if not policy.ours(container(ident)):
            return "not a login container of this deployment"
        return _check_exec_create(request.body) if action == "exec" else None
    if found := re.fullmatch(rf"/exec/{_ID}/([a-z]+)", path):
        if (method, found.group(2)) not in EXEC_CALLS:
            return f"{method} {path}: not a call the worker makes"
        inspected = exec_(found.group(1)) or {}
        if not policy.ours(container(str(inspected.get("ContainerID") or ""))):
            return "not an exec in a login container of this deployment"
        return None
    return f"{method} {path}: not a call the worker makes"


def _check_list(policy: Policy, query: str) -> str | None:
    raw = parse_qs(query).get("filters", [""])[-1]
    try:
        filters = json.loads(raw) if raw else {}
    except ValueError:
        return "filters are not JSON"
    labels = filters.get("label") if isinstance(filters, dict) else None
    if isinstance(labels, dict):  # the older map form {"label": {"k=v": true}}
        labels = [k for k, v in labels.items() if v]
    if not isinstance(labels, list) or f"{DEPLOYMENT_LABEL}={policy.deployment}" not in labels:
        return f"list containers only with the filter label={DEPLOYMENT_LABEL}={policy.deployment}"
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _root(user: Any) -> bool:
    name = str(user or "").split(":", 1)[0].strip()
    return name in ("", "0", "root")


def _check_create(policy: Policy, body: bytes) -> str | None:
    spec = _json_object(body)
    if spec is None:
        return "the body is not a JSON object"
    extra = sorted(k for k, v in spec.items() if k not in CREATE_KEYS and v)
    if extra:
        return f"container settings not allowed: {', '.join(extra)}"
    if not policy.image_allowed(str(spec.get("Image") or "")):
        return f"only the login image {policy.image} may be started"
    if (spec.get("Labels") or {}).get(DEPLOYMENT_LABEL) != policy.deployment:
        return f"the container must carry the label {DEPLOYMENT_LABEL}={policy.deployment}"
    if _root(spec.get("User")):
        return "the container must run as a non-root user"
    host = spec.get("HostConfig") or {}
    if not isinstance(host, dict):
        return "HostConfig is not an object"
    if host.get("Privileged"):
        return "privileged containers are not allowed"
    for key in ("Binds", "Mounts", "VolumesFrom", "Devices", "DeviceRequests", "CapAdd"):
        if host.get(key):
            return f"{key} is not allowed"
    extra = sorted(k for k, v in host.items() if k not in HOST_KEYS and v)
    if extra:
        return f"host settings not allowed: {', '.join(extra)}"
    for key in ("NetworkMode", "IpcMode"):
        mode = str(host.get(key) or "")
        if mode == "host" or mode.startswith("container:"):
            return f"{key} {mode} is not allowed"
    log_type = str((host.get("LogConfig") or {}).get("Type") or "")
    if log_type not in LOG_DRIVERS:  # a driver that ships logs elsewhere from the host
        return f"log driver {log_type} is not allowed"
    for option in host.get("SecurityOpt") or []:
        if "unconfined" in str(option) or "disable" in str(option):
            return f"security option {option} is not allowed"
    return None


def _check_exec_create(body: bytes) -> str | None:
    spec = _json_object(body)
    if spec is None:
        return "the body is not a JSON object"
    if spec.get("Privileged"):
        return "privileged execs are not allowed"
    if spec.get("User") and _root(spec["User"]):
        return "execs may not run as root"
    return None


def _with_tag(name: str) -> str:
    name = name.strip()
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}:latest" if name else ""
