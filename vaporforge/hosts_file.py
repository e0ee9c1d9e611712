"""``VF_HOSTS_FILE``: reading the hosts file (the form is in :mod:`vaporforge.hosts`).

Contract: :func:`read_file` returns the hosts or raises ConfigError naming the
file, the line when it can be found, the host table and the key that is wrong:
an unknown key, a host without keys, a key that is not ``sha256:<64 hex>`` or
that another host has too, a mode outside ``VF_MODES``, an origin that is not
one, a rate the limiter cannot read, an inline secret, a secret that cannot be
read or is short. No message repeats a secret.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from limits import parse as parse_rate

from vaporforge.access import origin_of, url_allowed
from vaporforge.errors import ConfigError
from vaporforge.hostkeys import HostKey, parse_digest, valid_name
from vaporforge.hosts import Host, Webhook
from vaporforge.session.states import LoginMode
from vaporforge.webhooks import webhook_secret_var

FILE_VAR = "VF_HOSTS_FILE"

TABLE_KEYS = ("keys", "webhook_url", "webhook_secret_env", "webhook_secret_file", "origins",
             "modes", "user_create_rate", "user_refresh_rate")
"""The keys a ``[hosts.NAME]`` table may hold."""


class _Place:
    """Names where in the file something is wrong: the host table, the key, the line."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def refuse(self, what: str, host: str | None = None, key: str | None = None) -> ConfigError:
        line = self._line(host, key)
        where = [f"line {line}"] if line else []
        if host is not None:
            where.append(f"[hosts.{host}]" + (f" {key}" if key else ""))
        elif key is not None:
            where.append(key)
        return ConfigError(f"{FILE_VAR} {self.path}: {', '.join(where)}: {what}"
                           if where else f"{FILE_VAR} {self.path}: {what}")

    def _line(self, host: str | None, key: str | None) -> int | None:
        """Best effort: the line of ``key`` in the ``[hosts.host]`` table (its header
        when the key is not written there), or of a top-level ``key``."""
        start = 0
        if host is not None:
            name = re.escape(host)
            header = re.compile(rf"""^\s*\[\s*hosts\s*\.\s*(?:{name}|"{name}"|'{name}')\s*\]""")
            start = next((i for i, text in enumerate(self.lines) if header.match(text)), -1)
            if start < 0:
                return None
            if key is None:
                return start + 1
            start += 1
        if key is None:
            return None
        assignment = re.compile(rf"^\s*\[?\s*{re.escape(key)}\s*[=\].]")
        for number in range(start, len(self.lines)):
            if host is not None and self.lines[number].lstrip().startswith("["):
                break
            if assignment.match(self.lines[number]):
                return number + 1
        return start if host is not None else None  # the table's header line


def read_file(path: str, modes: tuple[LoginMode, ...], user_create_rate: str,
              user_refresh_rate: str, env: Mapping[str, str]) -> tuple[Host, ...]:
    """The hosts ``path`` describes (see the module docstring); ``modes`` is
    ``VF_MODES``, the rates the deployment's, ``env`` where ``webhook_secret_env``
    names are looked up. Raises ConfigError saying where the file is wrong."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise ConfigError(f"{FILE_VAR} {path} cannot be read: {exc.strerror}") from None
    place = _Place(path, raw.decode("utf-8", errors="replace"))
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise place.refuse(f"not valid TOML (UTF-8): {exc}") from None
    for name in document:
        if name != "hosts":
            raise place.refuse(f"unknown key {name!r}; the file holds only [hosts.NAME] tables",
                               key=name)
    tables = document.get("hosts")
    if not isinstance(tables, dict) or not tables:
        raise place.refuse("no hosts: give each host app a [hosts.NAME] table with its keys")
    hosts = tuple(_host(place, name, table, modes, user_create_rate, user_refresh_rate, env)
                  for name, table in tables.items())
    key_owner: dict[bytes, str] = {}
    secret_owner: dict[str, str] = {}
    for host in hosts:
        for key in host.keys:
            if key_owner.setdefault(key.digest, host.name) != host.name:
                raise place.refuse(f"a key of [hosts.{key_owner[key.digest]}] too; each key "
                                   "names one host", host.name, "keys")
        if host.webhook and secret_owner.setdefault(host.webhook.secret, host.name) != host.name:
            source = next(k for k in ("webhook_secret_env", "webhook_secret_file")
                          if k in tables[host.name])
            raise place.refuse(f"the same secret as [hosts.{secret_owner[host.webhook.secret]}]"
                               "; each host needs its own, or either could sign events as the "
                               "other", host.name, source)
    return hosts


def _host(place: _Place, name: str, table: Any, modes: tuple[LoginMode, ...],
          user_create_rate: str, user_refresh_rate: str, env: Mapping[str, str]) -> Host:
    if not valid_name(name):
        raise place.refuse("a host name is letters, digits, '.', '_', '-', at most 64, the "
                           "first a letter or digit", name)
    if not isinstance(table, dict):
        raise place.refuse("must be a table of settings", name)
    for key in table:
        if key == "webhook_secret":
            raise place.refuse("a secret is never written in the file: name the environment "
                               "variable that holds it (webhook_secret_env) or the file "
                               "(webhook_secret_file)", name, key)
        if key not in TABLE_KEYS:
            raise place.refuse(f"unknown key {key!r}; a host has {', '.join(TABLE_KEYS)}",
                               name, key)
    keys = _strings(place, name, table, "keys")
    if not keys:
        raise place.refuse("a host needs at least one key: keys = [\"sha256:<64 hex>\"] "
                           "(`python -m vaporforge.hostkeys new NAME` makes one)", name, "keys")
    digests = []
    for position, value in enumerate(keys, start=1):
        digest = parse_digest(value)
        if digest is None:
            raise place.refuse(f"key {position} must be sha256:<64 hex digits>", name, "keys")
        digests.append(HostKey(name, digest))
    return Host(
        name, tuple(digests), _modes(place, name, table, modes),
        _rate(place, name, table, "user_create_rate", user_create_rate),
        _rate(place, name, table, "user_refresh_rate", user_refresh_rate),
        origins=_origins(place, name, table), webhook=_webhook(place, name, table, env))


def _strings(place: _Place, host: str, table: dict[str, Any], key: str) -> list[str]:
    """A list of strings (empty when the key is left out)."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise place.refuse("must be a list of strings", host, key)
    return value


def _text(place: _Place, host: str, table: dict[str, Any], key: str) -> str:
    """A string (empty when the key is left out)."""
    value = table.get(key, "")
    if not isinstance(value, str):
        raise place.refuse("must be a string", host, key)
    return value.strip()


def _modes(place: _Place, host: str, table: dict[str, Any],
           offered: tuple[LoginMode, ...]) -> tuple[LoginMode, ...]:
    if "modes" not in table:
        return offered
    names = _strings(place, host, table, "modes")
    if not names:
        raise place.refuse("must name at least one mode (leave it out for VF_MODES)", host,
                           "modes")
    found: list[LoginMode] = []
    for name in names:
        mode = next((m for m in offered if m.value == name.strip().lower()), None)
        if mode is None:
            raise place.refuse(f"{name!r} is not a mode VF_MODES offers "
                               f"({', '.join(m.value for m in offered)})", host, "modes")
        if mode in found:
            raise place.refuse(f"names {mode.value} twice", host, "modes")
        found.append(mode)
    return tuple(found)


def _origins(place: _Place, host: str, table: dict[str, Any]) -> tuple[str, ...]:
    found = []
    for value in _strings(place, host, table, "origins"):
        origin = origin_of(value)
        if origin is None:
            raise place.refuse(f"{value!r} is not a web origin: https://host[:port] (http only "
                               "for a loopback address), no path", host, "origins")
        found.append(origin)
    return tuple(dict.fromkeys(found))


def _rate(place: _Place, host: str, table: dict[str, Any], key: str, default: str) -> str:
    rate = _text(place, host, table, key)
    if not rate:
        return default
    try:
        parse_rate(rate)
    except ValueError:
        raise place.refuse(f"{rate!r} is not a rate such as \"5/hour\"", host, key) from None
    return rate


def _webhook(place: _Place, host: str, table: dict[str, Any],
             env: Mapping[str, str]) -> Webhook | None:
    url = _text(place, host, table, "webhook_url")
    sources = [key for key in ("webhook_secret_env", "webhook_secret_file") if key in table]
    if not url:
        if sources or "webhook_url" in table:
            raise place.refuse("webhook_url and its secret go together: give both or neither",
                               host, sources[0] if sources else "webhook_url")
        return None
    if not url_allowed(url):
        raise place.refuse("must be an https URL (http only for a loopback address)", host,
                           "webhook_url")
    if len(sources) != 1:
        raise place.refuse("give the secret that signs its events once: webhook_secret_env "
                           "(an environment variable's name) or webhook_secret_file (a file's "
                           "path)", host, sources[-1] if sources else "webhook_url")
    key = sources[0]
    source = _text(place, host, table, key)
    if not source:
        raise place.refuse("must name " + ("an environment variable" if key.endswith("env")
                                           else "a file"), host, key)
    if key == "webhook_secret_env":
        secret = env.get(source, "").strip()
        if not secret:
            raise place.refuse(f"the environment variable {source!r} is not set or empty",
                               host, key)
    else:
        try:
            with open(source, encoding="utf-8") as file:
                secret = file.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise place.refuse(f"the file {source!r} cannot be read: {reason}", host,
                               key) from None
    try:
        webhook_secret_var(f"the secret in {source!r}", secret)
    except ConfigError as exc:
        raise place.refuse(str(exc), host, key) from None
    return Webhook(url, secret)
