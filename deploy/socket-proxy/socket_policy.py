"""What the Docker socket proxy sends to the engine: only requests it built itself.

Pure rules (no sockets). :func:`decide` reads one request of the worker strictly
(:mod:`strict_input`) and answers a :class:`Forward` — method, path, query and
body that the proxy serialised from its own values — or raises
:class:`Refused`. The worker's bytes never reach the engine. Allowed, with an
optional ``/v1.NN`` prefix:

- ``GET|HEAD /_ping``, ``GET /version``: the SDK's version negotiation;
- ``GET /containers/json``: sent with the proxy's own label filter (this
  deployment), whatever filter the worker asked for;
- ``POST /containers/create``: the body is
  :meth:`~vaporforge.login_container.LoginContainerSpec.create_body` of the
  proxy's own spec; from the worker it takes only the session or probe label,
  the expiry, and so the command (the login wait, or the CLI's ``--version``).
  A field the worker sends that differs from the spec is refused, naming it;
- start, wait, kill, stop, inspect, logs, exec create and delete of a container
  the engine says carries this deployment's label and the login image, sent to
  the full id the engine answered with (never the name or prefix the worker
  gave). An exec runs as the spec's user, never privileged, with ``Cmd``,
  ``Tty``, the attach flags, ``WorkingDir`` (the login HOME) and ``Env`` names
  of the CLI's environment only;
- exec start, inspect and resize of an exec in such a container.

Everything else (images, volumes, networks, the engine's own settings, other
containers) is refused.

Why not a ready-made one: neither Debian (bookworm) nor PyPI packages a Docker
socket proxy; the well-known HAProxy-based ones filter by API section and method
and forward the caller's bytes, which is the hole this one closes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from strict_input import Malformed, anything, flag, json_object, one_of, query, whole

from vaporforge.login_container import (
    DEPLOYMENT_LABEL,
    EXPIRES_LABEL,
    HOME,
    PROBE_LABEL,
    SESSION_LABEL,
    LoginContainerSpec,
    LoginVariables,
)

_PATH = re.compile(r"^(/v1\.[0-9]{1,2})?(/[A-Za-z0-9_./-]*)$")
_NAME = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,127})"
_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_SIGNAL = re.compile(r"^[A-Z0-9+]{1,16}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")


class Refused(Exception):
    """Not forwarded. ``status`` 400: it could not be read one way only; 403: it asks
    for something a login container may not be or do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    body: bytes = b""
    upgrade: bool = False  # the worker asked for ``Upgrade: tcp``


@dataclass(frozen=True)
class Forward:
    """A request the proxy built; :meth:`head` is all the engine sees of it, with ``body``."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    upgrade: bool = False  # an exec start that may become a raw stream

    def head(self) -> bytes:
        target = self.path + ("?" + urlencode(self.query) if self.query else "")
        lines = [f"{self.method} {target} HTTP/1.1", "Host: docker",
                 "User-Agent: vaporforge-docker-proxy"]
        if self.body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        lines += ["Connection: Upgrade", "Upgrade: tcp"] if self.upgrade else \
            ["Connection: close"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class Policy:
    """The proxy's own spec of a login container (from its own environment)."""

    spec: LoginContainerSpec

    @property
    def deployment(self) -> str:
        return self.spec.deployment

    @property
    def image(self) -> str:
        return self.spec.image

    def ours(self, inspected: Mapping[str, Any] | None) -> bool:
        """True for a container (engine inspect data) this deployment may touch."""
        config = (inspected or {}).get("Config") or {}
        labels = config.get("Labels") or {}
        return (labels.get(DEPLOYMENT_LABEL) == self.deployment
                and _with_tag(str(config.get("Image") or "")) == _with_tag(self.image))


Inspect = Callable[[str], "Mapping[str, Any] | None"]
"""Asks the engine about a container or exec by id; None when it does not exist."""

_LOGS = {name: flag for name in ("stdout", "stderr", "timestamps", "follow")} | {
    "tail": lambda v: v if v == "all" else whole(v), "since": whole, "until": whole}
_CONTAINER_CALLS: dict[tuple[str, str], Mapping[str, Callable[[str], str]]] = {
    ("POST", "start"): {},
    ("POST", "wait"): {"condition": one_of("not-running", "next-exit", "removed")},
    ("POST", "kill"): {"signal": lambda v: _checked(_SIGNAL, v, "a signal")},
    ("POST", "stop"): {"t": whole},
    ("GET", "json"): {"size": flag},
    ("GET", "logs"): _LOGS,
    ("POST", "exec"): {},
    ("DELETE", ""): {"v": flag, "force": flag, "link": flag},
}
_EXEC_CALLS: dict[tuple[str, str], Mapping[str, Callable[[str], str]]] = {
    ("POST", "start"): {}, ("GET", "json"): {}, ("POST", "resize"): {"h": whole, "w": whole},
}
_LIST = {"all": flag, "limit": whole, "size": flag, "trunc_cmd": flag, "filters": anything,
         "since": anything, "before": anything}


def decide(policy: Policy, request: Request, container: Inspect, exec_: Inspect) -> Forward:
    """The request to send in place of ``request``; Refused if there is none."""
    try:
        return _decide(policy, request, container, exec_)
    except Malformed as exc:
        raise Refused(400, str(exc)) from None


def _decide(policy: Policy, request: Request, container: Inspect, exec_: Inspect) -> Forward:
    raw_path, _, raw_query = request.target.partition("?")
    found = _PATH.match(raw_path)
    if not found or "/.." in raw_path or "//" in raw_path:
        raise Refused(403, "malformed path")
    version, path = found.group(1) or "", found.group(2)
    method = request.method
    if (method in ("GET", "HEAD") and path == "/_ping") or (method, path) == ("GET", "/version"):
        query(raw_query, {})
        return Forward(method, version + path)
    if (method, path) == ("GET", "/containers/json"):
        asked = query(raw_query, _LIST)
        mine = json.dumps({"label": [f"{DEPLOYMENT_LABEL}={policy.deployment}"]})
        return Forward(method, version + path, {"all": asked.get("all", "0"), "filters": mine})
    if (method, path) == ("POST", "/containers/create"):
        query(raw_query, {})
        return Forward(method, version + path, body=_create(policy.spec, request.body))
    if hit := re.fullmatch(rf"/containers/{_NAME}(?:/([a-z]+))?", path):
        action = hit.group(2) or ""
        allowed = _CONTAINER_CALLS.get((method, action))
        if allowed is None:
            raise Refused(403, f"{method} {path}: not a call the worker makes")
        params = query(raw_query, allowed)
        ident = _our_container(policy, container, hit.group(1))
        if action == "exec":
            body = _exec(policy.spec, request.body)
        elif json_object(request.body):
            raise Refused(403, f"{method} {path} takes no body")
        else:
            body = None
        params.pop("link", None)  # links name other containers: never sent on
        target = f"{version}/containers/{ident}" + (f"/{action}" if action else "")
        return Forward(method, target, params, body)
    if hit := re.fullmatch(rf"/exec/{_NAME}/([a-z]+)", path):
        allowed = _EXEC_CALLS.get((method, hit.group(2)))
        if allowed is None:
            raise Refused(403, f"{method} {path}: not a call the worker makes")
        params = query(raw_query, allowed)
        inspected = exec_(hit.group(1)) or {}
        ident = str(inspected.get("ID") or "")
        if not _FULL_ID.match(ident):
            raise Refused(403, "no such exec")
        _our_container(policy, container, str(inspected.get("ContainerID") or ""))
        target = f"{version}/exec/{ident}/{hit.group(2)}"
        if hit.group(2) != "start":
            if json_object(request.body):
                raise Refused(403, f"{method} {path} takes no body")
            return Forward(method, target, params)
        start = _exec_start(request.body)
        return Forward(method, target, params, start,
                       upgrade=request.upgrade and not json.loads(start)["Detach"])
    raise Refused(403, f"{method} {path}: not a call the worker makes")


def _our_container(policy: Policy, container: Inspect, ident: str) -> str:
    """The full id of ``ident`` when it is a login container of this deployment."""
    inspected = container(ident) if ident else None
    full = str((inspected or {}).get("Id") or "")
    if not policy.ours(inspected) or not _FULL_ID.match(full):
        raise Refused(403, "not a login container of this deployment")
    return full


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise Malformed(f"{value!r} is not {what}")
    return value


def _same(sent: Any, built: Any) -> bool:
    """Equal as JSON, types included (``true`` is not ``1``, ``1.0`` is not ``1``)."""
    return json.dumps(sent, sort_keys=True) == json.dumps(built, sort_keys=True)


def _variables(spec: LoginContainerSpec, body: Mapping[str, Any]) -> LoginVariables:
    labels = body.get("Labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise Refused(403, "Labels must name the session (or probe) and the expiry")
    known = {SESSION_LABEL, PROBE_LABEL, EXPIRES_LABEL, DEPLOYMENT_LABEL}
    if extra := sorted(set(labels) - known):
        raise Refused(403, f"Labels.{extra[0]} is not a label of a login container")
    if labels.get(DEPLOYMENT_LABEL) != spec.deployment:
        raise Refused(403, f"the container must carry the label {DEPLOYMENT_LABEL}="
                           f"{spec.deployment}")
    expires = labels.get(EXPIRES_LABEL, "")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        raise Refused(403, f"Labels.{EXPIRES_LABEL} must be a time in whole seconds")
    try:
        return LoginVariables(int(expires), session_id=labels.get(SESSION_LABEL),
                              probe_id=labels.get(PROBE_LABEL))
    except ValueError as exc:
        raise Refused(403, f"Labels: {exc}") from None


def _create(spec: LoginContainerSpec, raw: bytes) -> bytes:
    """The spec's own create body for the login the worker's body names."""
    sent = json_object(raw)
    built = spec.create_body(_variables(spec, sent))
    for key, value in sent.items():
        if key not in built:
            raise Refused(403, f"{key} is not part of the login container's spec")
        if key == "HostConfig" and isinstance(value, dict):
            for name, setting in value.items():
                if name not in built[key] or not _same(setting, built[key][name]):
                    raise Refused(403, f"HostConfig.{name} differs from the login "
                                       "container's spec")
        elif not _same(value, built[key]):
            raise Refused(403, f"{key} differs from the login container's spec")
    return json.dumps(built).encode()


def _booleans(sent: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, bool]:
    values = {name: sent.get(name, False) for name in names}
    for name, value in values.items():
        if not isinstance(value, bool):
            raise Refused(403, f"{name} must be true or false")
    return values


def _exec(spec: LoginContainerSpec, raw: bytes) -> bytes:
    """An exec as the spec's user, unprivileged, with the CLI's environment only."""
    sent = json_object(raw)
    known = {"Container", "User", "Privileged", "Tty", "AttachStdin", "AttachStdout",
             "AttachStderr", "Cmd", "Env", "WorkingDir"}
    if extra := sorted(set(sent) - known):
        raise Refused(403, f"{extra[0]} is not set on an exec in a login container")
    if sent.get("User", "") not in ("", spec.user):
        raise Refused(403, f"User differs from the login container's spec ({spec.user})")
    if sent.get("Privileged", False) is not False:
        raise Refused(403, "Privileged differs from the login container's spec (false)")
    if not isinstance(sent.get("Container", ""), str):
        raise Refused(403, "Container must be a string")
    cmd = sent.get("Cmd")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise Refused(403, "Cmd must be a list of strings")
    env = sent.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise Refused(403, "Env must be a list of NAME=value strings")
    for pair in env:
        name = pair.partition("=")[0]
        if not _ENV_NAME.match(name) or name not in spec.exec_env_names:
            raise Refused(403, f"Env: {name[:64]!r} is not a variable of the CLI's environment")
    built: dict[str, Any] = {
        "User": spec.user, "Privileged": False, "Cmd": cmd, "Env": env,
        **_booleans(sent, ("Tty", "AttachStdin", "AttachStdout", "AttachStderr"))}
    if "WorkingDir" in sent:
        if sent["WorkingDir"] != HOME:
            raise Refused(403, f"WorkingDir must be the login HOME ({HOME})")
        built["WorkingDir"] = HOME
    return json.dumps(built).encode()


def _exec_start(raw: bytes) -> bytes:
    sent = json_object(raw)
    if extra := sorted(set(sent) - {"Detach", "Tty"}):
        raise Refused(403, f"{extra[0]} is not set on an exec start")
    return json.dumps(_booleans(sent, ("Detach", "Tty"))).encode()


def _with_tag(name: str) -> str:
    name = name.strip()
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return f"{name}:latest" if name else ""
