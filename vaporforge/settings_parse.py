"""How each setting's text is read: the ``parse`` of a ``vaporforge.settings.Var``.

A parser takes the variable's name (for the error message) and its text, already
stripped and not empty (``Var.blank_is_unset`` decides what an empty value
means), and returns the value or raises :class:`ConfigError` with a message that
names the variable and what it must be. Parsers never see secrets worth hiding:
settings hold no credentials but the Redis URLs, which no message repeats.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from vaporforge.access import origin_text, url_allowed
from vaporforge.errors import ConfigError
from vaporforge.session.states import LoginMode

Parse = Callable[[str, str], Any]
Number = TypeVar("Number", int, float)


def refusing(parse: Callable[[str], Any]) -> Parse:
    """A row's parser from a plain one whose ValueError names the problem: that
    text becomes the ConfigError."""
    def read(name: str, raw: str) -> Any:
        try:
            return parse(raw)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return read


def text(name: str, raw: str) -> str:
    return raw


def _number(name: str, raw: str, parse: type[Number], minimum: Number, what: str) -> Number:
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def whole(minimum: int = 1) -> Parse:
    """A whole number of at least ``minimum``."""
    return lambda name, raw: _number(name, raw, int, minimum, "a whole number")


def number(minimum: float = 0.01) -> Parse:
    """A number (seconds, CPUs) of at least ``minimum``."""
    return lambda name, raw: _number(name, raw, float, minimum, "a number")


def flag(name: str, raw: str) -> bool:
    raw = raw.lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def one_of(*choices: str) -> Parse:
    """One of ``choices``, in any case."""
    def parse(name: str, raw: str) -> str:
        raw = raw.lower()
        if raw not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw
    return parse


def runtime(name: str, raw: str) -> str:
    if raw not in ("local", "docker"):
        raise ConfigError(f"{name} must be local or docker, got {raw!r}")
    return raw


def command(name: str, raw: str) -> tuple[str, ...]:
    """Shell-split words; an empty value is refused (``blank_is_unset=False``)."""
    words = tuple(shlex.split(raw))
    if not words:
        raise ConfigError(f"{name} must name the CLI executable")
    return words


def env_pairs(name: str, raw: str) -> dict[str, str]:
    """Space-separated (shell-quoted) ``NAME=VALUE`` pairs."""
    pairs = {}
    for pair in shlex.split(raw):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{name} must be space-separated NAME=VALUE pairs")
        pairs[key] = value
    return pairs


def host_map(name: str, raw: str) -> dict[str, str]:
    """``name:address`` pairs, comma-separated."""
    hosts = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        host, sep, address = pair.partition(":")
        if not sep or not host or not address:
            raise ConfigError(f"{name} must be name:address pairs, comma-separated")
        hosts[host] = address
    return hosts


def warm_pool(name: str, raw: str) -> dict[LoginMode, int]:
    """``oauth:2,setup-token:1`` → {mode: entries}; modes counted 0 are left out."""
    pool: dict[LoginMode, int] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        mode, _, count = pair.rpartition(":")
        try:
            pool[LoginMode(mode.strip())] = int(count)
        except ValueError:
            raise ConfigError(f"{name} must be mode:count pairs, comma-separated, with "
                              f"modes {', '.join(m.value for m in LoginMode)}") from None
        if pool[LoginMode(mode.strip())] < 0:
            raise ConfigError(f"{name} counts must not be negative")
    return {mode: count for mode, count in pool.items() if count}


def modes(name: str, raw: str) -> tuple[LoginMode, ...]:
    """``console,oauth`` → those modes in that order; at least one, each once."""
    known = ", ".join(m.value for m in LoginMode)
    names = [n for n in (part.strip().lower() for part in raw.split(",")) if n]
    if not names:
        raise ConfigError(f"{name} must name at least one mode among {known}")
    found: list[LoginMode] = []
    for mode_name in names:
        try:
            mode = LoginMode(mode_name)
        except ValueError:
            raise ConfigError(f"{name} must list modes among {known}, comma-separated; "
                              f"got {mode_name!r}") from None
        if mode in found:
            raise ConfigError(f"{name} names {mode_name} twice")
        found.append(mode)
    return tuple(found)


def sentinels(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """``host:port`` entries, comma-separated (an IPv6 host in brackets)."""
    found = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        host, sep, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} must be host:port entries, comma-separated, "
                              f"got {entry!r}")
        found.append((host, int(port)))
    return tuple(found)


def plain_name(name: str, raw: str) -> str:
    if any(c.isspace() or c in "/,;:@" for c in raw):
        raise ConfigError(f"{name} must be a plain name, got {raw!r}")
    return raw


def deployment(name: str, raw: str) -> str:
    """Printable text of at most 128 characters (it becomes a Docker label value)."""
    if not raw.isprintable() or len(raw) > 128:
        raise ConfigError(f"{name} (default: VF_KEY_PREFIX) must be printable text of at "
                          "most 128 characters")
    return raw


def token_url(name: str, raw: str) -> str:
    if not url_allowed(raw):
        raise ConfigError(f"{name} must be an https URL (http only for a loopback "
                          "address, for tests)")
    return raw


def origins(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated browser origins, without a trailing slash."""
    return tuple(origin_text(o) for o in raw.split(",") if o.strip())


def host_names(name: str, raw: str) -> frozenset[str]:
    """Comma-separated host names, lower-cased."""
    return frozenset(h.strip().lower() for h in raw.split(",") if h.strip())


def through_sentinel(name: str, url: str) -> None:
    """Through Sentinel only a URL's database number and credentials are used."""
    if urlsplit(url).scheme != "redis":
        raise ConfigError(f"{name} must be a redis:// URL when VF_REDIS_SENTINELS is set "
                          "(TLS and unix sockets are not supported through Sentinel)")


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def next_db(url: str) -> str:
    """``url`` with the database after its own (wrapping at 16)."""
    path = urlsplit(url).path.strip("/")
    return with_db(url, ((int(path) if path.isdigit() else 0) + 1) % 16)


def default_work_dir(env: Mapping[str, str]) -> str:
    """The service user's own runtime folder when it has one, else a per-user
    folder in /tmp (the local runtime refuses one that someone else owns)."""
    runtime_dir = env.get("XDG_RUNTIME_DIR", "").strip()
    if runtime_dir:
        return os.path.join(runtime_dir, "vaporforge")
    return f"/tmp/vaporforge-{os.geteuid()}"
