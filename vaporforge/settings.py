"""The one frozen settings object, read from the environment once and passed in.

Every setting is one row of :data:`VARS`: its environment variable, the
:class:`Settings` field it fills, how its text is read (a parser from
:mod:`vaporforge.settings_parse`), its default and a one-line meaning.
:meth:`Settings.from_env` reads the rows in order, and the README's
configuration table is printed from them::

    python -m vaporforge.settings --markdown          # print the table
    python -m vaporforge.settings --readme README.md  # rewrite it in place

``tests/test_settings_table.py`` fails while the README's table, the rows and
the fields disagree.

To add a setting (say ``VF_MODES``): put its default in
``vaporforge/defaults.py``, add a field with that default to :class:`Settings`,
add one ``Var`` row to :data:`VARS` (a parser from ``settings_parse``, or a new
one there), then rewrite the README with the command above.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaporforge import defaults
from vaporforge import settings_parse as p
from vaporforge.errors import ConfigError
from vaporforge.session.states import LoginMode

__all__ = ["VARS", "ConfigError", "Settings", "Var", "markdown_table"]


@dataclass(frozen=True)
class Var:
    """One environment variable and the :class:`Settings` field it fills."""

    name: str
    attr: str
    parse: p.Parse
    """Reads the stripped, non-empty text; raises ConfigError."""
    default: Any
    """The value when the variable is unset or blank (and ``derive`` is None)."""
    meaning: str
    """One line for the README's table."""
    shown: str = ""
    """The README's default column when the default is not a plain literal."""
    derive: Callable[[Mapping[str, Any], Mapping[str, str]], str] | None = None
    """When unset or blank: the text to parse instead, from the values read so
    far (rows above this one) and the environment."""
    blank_is_unset: bool = True
    """False: a set but blank variable is parsed (and may be refused) as it is."""

    def read(self, env: Mapping[str, str], values: Mapping[str, Any]) -> Any:
        raw = env.get(self.name)
        if raw is not None and (raw.strip() or not self.blank_is_unset):
            return self.parse(self.name, raw.strip())
        if self.derive is not None:
            return self.parse(self.name, self.derive(values, env))
        return copy.copy(self.default)  # a fresh dict or set for each Settings

    def default_text(self) -> str:
        if self.shown:
            return self.shown
        value = self.default
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        if isinstance(value, float):
            return f"`{value:g}`"
        if isinstance(value, tuple) and all(isinstance(v, str) for v in value) and value:
            return f"`{' '.join(value)}`"
        if value in ("", (), {}, frozenset(), None):
            return "empty"
        return f"`{value}`"


VARS: tuple[Var, ...] = (
    Var("REDIS_URL", "redis_url", p.text, defaults.REDIS_URL, "session store"),
    Var("VF_BROKER_URL", "broker_url", p.text, defaults.BROKER_URL,
        "Celery broker (same server, separate database)", shown="`REDIS_URL` with database + 1",
        derive=lambda values, env: p.next_db(values["redis_url"])),
    Var("VF_REDIS_SENTINELS", "redis_sentinels", p.sentinels, (),
        "comma-separated `host:port` of Redis Sentinels; when set, the store, the rate limiter "
        "and the broker find the master through them and follow a failover (see [Redis through "
        "Sentinel](#redis-through-sentinel)). The host part of `REDIS_URL` and `VF_BROKER_URL` "
        "is then ignored; their database numbers and passwords are kept"),
    Var("VF_REDIS_SENTINEL_MASTER", "redis_sentinel_master", p.plain_name,
        defaults.REDIS_SENTINEL_MASTER, "the name the sentinels monitor the master under"),
    Var("VF_RUNTIME", "runtime", p.runtime, defaults.RUNTIME,
        "`local` (subprocess on the worker) or `docker` (login containers)"),
    Var("VF_LOGIN_COMMAND", "login_command", p.command, (defaults.LOGIN_COMMAND,),
        "the CLI executable (shell-split, so it may carry arguments); the mode adds "
        "`auth login`, `auth login --console` or `setup-token`", blank_is_unset=False),
    Var("VF_LOGIN_ENV", "login_env", p.env_pairs, {},
        "extra `NAME=VALUE` pairs (space-separated) for the CLI's environment"),
    Var("VF_SESSION_TTL", "session_ttl", p.whole(), defaults.SESSION_TTL,
        "seconds a session may live"),
    Var("VF_CREDENTIALS_TTL", "credentials_ttl", p.whole(), defaults.CREDENTIALS_TTL,
        "seconds a ready payload waits for its claim"),
    Var("VF_CODE_WAIT_TIMEOUT", "code_wait_timeout", p.number(), defaults.CODE_WAIT_TIMEOUT,
        "seconds a worker waits for the code after publishing the URL (then `failed`/`timeout`)"),
    Var("VF_URL_TIMEOUT", "url_timeout", p.number(), defaults.URL_TIMEOUT,
        "seconds the CLI may take to show its URL (then `failed`/`url_not_found`)"),
    Var("VF_EXCHANGE_TIMEOUT", "exchange_timeout", p.number(), defaults.EXCHANGE_TIMEOUT,
        "seconds the CLI may take to answer a code (its own limit is 30 s)"),
    Var("VF_REAP_INTERVAL", "reap_interval", p.whole(), defaults.REAP_INTERVAL,
        "seconds between a worker's sweeps for what crashed workers left (sessions to settle, "
        "CLIs, HOMEs, containers)"),
    Var("VF_WARM_POOL", "warm_pool", p.warm_pool, {},
        "warm entries each worker keeps per mode, e.g. `oauth:2,setup-token:1` (see \"the warm "
        "pool\")", shown="empty (off)"),
    Var("VF_WARM_MAX_AGE", "warm_max_age", p.whole(5), defaults.WARM_MAX_AGE,
        "seconds a warm CLI may wait for a session before it is recycled"),
    Var("VF_START_TIMEOUT", "start_timeout", p.whole(), defaults.START_TIMEOUT,
        "seconds a new session may wait for a worker to take it (then `failed`/`not_started`)"),
    Var("VF_HEARTBEAT_TTL", "heartbeat_ttl", p.whole(2), defaults.HEARTBEAT_TTL,
        "seconds without a beat from the owning worker before a live session is "
        "`failed`/`worker_lost`"),
    Var("VF_WORKER_CONCURRENCY", "worker_concurrency", p.whole(), defaults.WORKER_CONCURRENCY,
        "logins one worker process holds at once (each CLI holds ~150 MB)"),
    Var("VF_WORK_DIR", "work_dir", p.text, None,
        "where the local runtime makes the per-session HOMEs; refused unless the service user "
        "owns it, it is a real folder and nobody else may write to it",
        shown="`$XDG_RUNTIME_DIR/vaporforge`, else `/tmp/vaporforge-<uid>`",
        derive=lambda values, env: p.default_work_dir(env)),
    Var("VF_KEY_PREFIX", "key_prefix", p.text, defaults.KEY_PREFIX, "prefix of every Redis key"),
    Var("VF_METRICS_PORT", "metrics_port", p.whole(0), defaults.METRICS_PORT,
        "port on which each worker process serves its own Prometheus series; the API serves "
        "`/metrics` on its own port. Both answer only as `VF_METRICS_TOKEN` says",
        shown="empty (off; `9808` in `docker-compose.yml`, not published)"),
    Var("VF_METRICS_TOKEN", "metrics_token", p.text, "",
        "with it, `/metrics`, a worker's metrics port and the details of `/readyz` (workers, "
        "capacity, warm entries, CLI versions) answer only `Authorization: Bearer <token>`; "
        "without it, only callers connected straight from loopback or a private network (no "
        "`X-Forwarded-For`/`Forwarded`: a request through a proxy counts as from outside). "
        "Anyone else gets `404` from `/metrics` and `{\"status\": \"ready\"}` from `/readyz`"),
    Var("VF_LOG_FORMAT", "log_format", p.one_of("json", "text"), defaults.LOG_FORMAT,
        "`json` (one object a line: `time`, `level`, `logger`, `message`, `session_id`) or "
        "`text`"),
    Var("VF_DEPLOYMENT", "deployment", p.deployment, "",
        "name of the deployment, put on its login containers as label `vaporforge.deployment`; "
        "a worker's reaper removes only containers with its own name. Deployments sharing one "
        "Docker engine need different names (a different key prefix is enough)",
        shown="`VF_KEY_PREFIX`", derive=lambda values, env: values["key_prefix"]),
    Var("VF_LOGIN_IMAGE", "login_image", p.text, defaults.LOGIN_IMAGE,
        "the login image (Docker runtime)"),
    Var("VF_DOCKER_NETWORK", "docker_network", p.text, defaults.DOCKER_NETWORK,
        "network of login containers (the CLI must reach the sign-in service)"),
    Var("VF_DOCKER_RUNTIME", "docker_runtime", p.text, None,
        "container runtime for login containers, e.g. `runsc` (gVisor)", shown="engine default"),
    Var("VF_DOCKER_MEMORY", "docker_memory", p.text, defaults.DOCKER_MEMORY,
        "memory limit of one login container (also its memory+swap limit)"),
    Var("VF_DOCKER_CPUS", "docker_cpus", p.number(), defaults.DOCKER_CPUS,
        "CPUs one login container may use"),
    Var("VF_DOCKER_PIDS", "docker_pids", p.whole(), defaults.DOCKER_PIDS,
        "processes one login container may hold"),
    Var("VF_DOCKER_EXTRA_HOSTS", "docker_extra_hosts", p.host_map, {},
        "`name:address` pairs (comma-separated) added to login containers' `/etc/hosts`; the "
        "tests point the sign-in hosts at a local test server with it"),
    Var("DOCKER_HOST", "docker_host", p.text, None,
        "the engine the worker talks to (`unix://` or plain `tcp://`)",
        shown=f"`{defaults.DOCKER_HOST}`"),
    Var("VF_REQUIRE_CLIENT_KEY", "require_client_key", p.flag, defaults.REQUIRE_CLIENT_KEY,
        "refuse sessions without `client_public_key` (`400 client_key_required`)",
        shown="`false` (`true` in `docker-compose.yml`)"),
    Var("VF_ALLOWED_ORIGINS", "allowed_origins", p.origins, (),
        "comma-separated browser origins allowed to call the API", shown="empty (no CORS)"),
    Var("VF_CREATE_RATE", "create_rate", p.text, defaults.CREATE_RATE,
        "session creations per client network (an IPv4 address or an IPv6 /64)"),
    Var("VF_POLL_RATE", "poll_rate", p.text, defaults.POLL_RATE,
        "status polls (`GET`, `HEAD`) per session, counted only when the token matched"),
    Var("VF_ACTION_RATE", "action_rate", p.text, defaults.ACTION_RATE,
        "code submissions, claims and cancels per session, counted only when the token matched"),
    Var("VF_PROBE_RATE", "probe_rate", p.text, defaults.PROBE_RATE,
        "failed session look-ups (unknown id, wrong token), `/readyz` calls and (for the "
        "callers let in) `/metrics` scrapes per client network"),
    Var("VF_MAX_CODE_ATTEMPTS", "max_code_attempts", p.whole(), defaults.MAX_CODE_ATTEMPTS,
        "codes per session; the next fails it with `too_many_attempts`"),
    Var("VF_MAX_SESSIONS", "max_sessions", p.whole(), defaults.MAX_SESSIONS,
        "live sessions at once; also capped by the workers' summed capacity "
        "(`503 at_capacity`)"),
    Var("VF_EXTRA_SIGN_IN_HOSTS", "extra_sign_in_hosts", p.host_names, frozenset(),
        "comma-separated sign-in hosts accepted besides `claude.ai`, `claude.com`, "
        "`platform.claude.com` (for a CLI pointed at an approved `CLAUDE_CODE_CUSTOM_OAUTH_URL`, "
        "e.g. `claude.fedstart.com`)"),
    Var("VF_TRUSTED_PROXIES", "trusted_proxies", p.whole(0), defaults.TRUSTED_PROXIES,
        "`X-Forwarded-For` hops to trust for the client address",
        shown="`0` (`1` in `docker-compose.yml`, behind the edge)"),
    Var("VF_TOKEN_URL", "token_url", p.token_url, defaults.TOKEN_URL,
        "where `POST /api/auth/refresh` relays the refresh grant; https, or http on a loopback "
        "address (tests)"),
    Var("VF_REFRESH_RATE", "refresh_rate", p.text, defaults.REFRESH_RATE,
        "refreshes per client address"),
    Var("VF_REFRESH_TIMEOUT", "refresh_timeout", p.number(), defaults.REFRESH_TIMEOUT,
        "seconds the relay waits on the sign-in service (connect at most "
        f"{defaults.REFRESH_CONNECT_TIMEOUT:g})"),
)
"""Every setting, in the README's order; a row may derive its default from rows above it."""


def _sentinel_urls(values: Mapping[str, Any]) -> None:
    """Through Sentinel the store and broker URLs must be plain ``redis://``."""
    if values["redis_sentinels"]:
        p.through_sentinel("REDIS_URL", values["redis_url"])
        p.through_sentinel("VF_BROKER_URL", values["broker_url"])


CHECKS: tuple[Callable[[Mapping[str, Any]], None], ...] = (_sentinel_urls,)
"""Rules that span several rows, run once every row is read."""


@dataclass(frozen=True)
class Settings:
    """What each field means is its row in :data:`VARS`."""

    redis_url: str = defaults.REDIS_URL
    broker_url: str = defaults.BROKER_URL
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = defaults.REDIS_SENTINEL_MASTER
    runtime: str = defaults.RUNTIME
    login_command: tuple[str, ...] = (defaults.LOGIN_COMMAND,)
    login_env: Mapping[str, str] = field(default_factory=dict)
    session_ttl: int = defaults.SESSION_TTL
    credentials_ttl: int = defaults.CREDENTIALS_TTL
    code_wait_timeout: float = defaults.CODE_WAIT_TIMEOUT
    url_timeout: float = defaults.URL_TIMEOUT
    exchange_timeout: float = defaults.EXCHANGE_TIMEOUT
    heartbeat_ttl: int = defaults.HEARTBEAT_TTL
    start_timeout: int = defaults.START_TIMEOUT
    warm_pool: Mapping[LoginMode, int] = field(default_factory=dict)
    warm_max_age: int = defaults.WARM_MAX_AGE
    reap_interval: int = defaults.REAP_INTERVAL
    metrics_port: int = defaults.METRICS_PORT
    # VF_METRICS_TOKEN: the Bearer token for /metrics and /readyz details; empty
    # means loopback and private-network callers only (vaporforge.access).
    metrics_token: str = field(default="", repr=False)
    log_format: str = defaults.LOG_FORMAT
    worker_concurrency: int = defaults.WORKER_CONCURRENCY
    work_dir: str = field(default_factory=lambda: p.default_work_dir(os.environ))
    key_prefix: str = defaults.KEY_PREFIX
    # Labels this deployment's login containers; empty means key_prefix.
    deployment: str = ""
    login_image: str = defaults.LOGIN_IMAGE
    docker_network: str = defaults.DOCKER_NETWORK
    docker_runtime: str | None = None
    docker_memory: str = defaults.DOCKER_MEMORY
    docker_cpus: float = defaults.DOCKER_CPUS
    docker_pids: int = defaults.DOCKER_PIDS
    docker_host: str | None = None
    docker_extra_hosts: Mapping[str, str] = field(default_factory=dict)
    require_client_key: bool = defaults.REQUIRE_CLIENT_KEY
    allowed_origins: tuple[str, ...] = ()
    create_rate: str = defaults.CREATE_RATE
    poll_rate: str = defaults.POLL_RATE
    action_rate: str = defaults.ACTION_RATE
    probe_rate: str = defaults.PROBE_RATE
    max_code_attempts: int = defaults.MAX_CODE_ATTEMPTS
    max_sessions: int = defaults.MAX_SESSIONS
    trusted_proxies: int = defaults.TRUSTED_PROXIES
    extra_sign_in_hosts: frozenset[str] = frozenset()
    token_url: str = defaults.TOKEN_URL
    refresh_rate: str = defaults.REFRESH_RATE
    refresh_timeout: float = defaults.REFRESH_TIMEOUT

    def __post_init__(self) -> None:
        if not self.deployment:
            object.__setattr__(self, "deployment", self.key_prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``env`` (usually ``os.environ``), row by row of
        :data:`VARS`; raises ConfigError naming the first bad variable."""
        values: dict[str, Any] = {}
        for var in VARS:
            values[var.attr] = var.read(env, values)
        for check in CHECKS:
            check(values)
        return cls(**values)


def markdown_table() -> str:
    """The README's configuration table, one row per :data:`VARS` entry."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {v.default_text()} | {v.meaning} |" for v in VARS]
    return "\n".join(lines) + "\n"


README_SECTION = "## Configuration (environment)"


def rewrite_readme(text: str) -> str:
    """``text`` with the first table under :data:`README_SECTION` replaced."""
    head, sep, rest = text.partition(README_SECTION)
    if not sep:
        raise ValueError(f"no {README_SECTION!r} section")
    table = re.search(r"^\|.*\n(?:\|.*\n)*", rest, re.MULTILINE)
    if table is None:
        raise ValueError("no table in the configuration section")
    return head + sep + rest[: table.start()] + markdown_table() + rest[table.end():]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaporforge.settings",
                                     description="The settings table, from VARS.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print the README's table")
    group.add_argument("--readme", type=Path, metavar="PATH",
                       help="rewrite the table in this README in place")
    args = parser.parse_args(argv)
    if args.readme:
        args.readme.write_text(rewrite_readme(args.readme.read_text()))
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
