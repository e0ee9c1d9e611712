"""The one frozen settings object, read from the environment once and passed in.

Every setting is one row of :data:`vaporforge.settings_table.VARS`: its environment variable, the
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
add one ``Var`` row to :data:`vaporforge.settings_table.VARS` (a parser from
``settings_parse``, or a new one there), then rewrite the README with the
command above.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from vaporforge import defaults
from vaporforge import settings_parse as p
from vaporforge.errors import ConfigError, ModeNotAllowed
from vaporforge.hostkeys import HostKey
from vaporforge.hosts import Host, Hosts, cors_origins, from_variables
from vaporforge.session.states import LoginMode
from vaporforge.settings_table import CHECKS, VARS, Var

__all__ = ["VARS", "ConfigError", "Settings", "Var", "markdown_table"]


@dataclass(frozen=True)
class Settings:
    """What each field means is its row in :data:`VARS`."""

    redis_url: str = defaults.REDIS_URL
    broker_url: str = defaults.BROKER_URL
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    redis_sentinel_master: str = defaults.REDIS_SENTINEL_MASTER
    modes: tuple[LoginMode, ...] = tuple(LoginMode(m) for m in defaults.MODES)
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
    metrics_token: str = field(default="", repr=False)
    log_format: str = defaults.LOG_FORMAT
    worker_concurrency: int = defaults.WORKER_CONCURRENCY
    webhook_concurrency: int = defaults.WEBHOOK_CONCURRENCY
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
    # Host-authorised logins. No host keys: protected mode.
    # With file_hosts, every host's keys (set in __post_init__).
    host_keys: tuple[HostKey, ...] = field(default=(), repr=False)
    grant_keys: tuple[bytes, ...] = field(default=(), repr=False)
    grant_ttl: int = defaults.GRANT_TTL
    ticket_ttl: int = defaults.TICKET_TTL
    ticket_rate: str = defaults.TICKET_RATE
    user_create_rate: str = defaults.USER_CREATE_RATE
    user_refresh_rate: str = defaults.USER_REFRESH_RATE
    idle_timeout: int = defaults.IDLE_TIMEOUT
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    # VF_HOSTS_FILE's hosts; see :attr:`hosts`.
    file_hosts: tuple[Host, ...] = field(default=(), repr=False)

    def allows(self, mode: str | None) -> LoginMode:
        """The mode a creation asked for (the first offered when ``None``); raises
        :class:`ModeNotAllowed` (``403 mode_not_allowed``) when this deployment
        does not offer it."""
        chosen = self.modes[0] if mode is None else LoginMode(mode)
        if chosen not in self.modes:
            raise ModeNotAllowed(f"This broker does not offer the {chosen.value} sign-in; it "
                                 f"offers {', '.join(m.value for m in self.modes)}.")
        return chosen

    @cached_property
    def hosts(self) -> Hosts:
        """Every host with its own settings: ``VF_HOSTS_FILE``'s, else one per name
        in ``VF_HOST_KEYS`` with the single-host variables (:mod:`vaporforge.hosts`)."""
        if self.file_hosts:
            return Hosts(self.file_hosts)
        return from_variables(self.host_keys, self.modes, self.webhook_url, self.webhook_secret,
                              self.user_create_rate, self.user_refresh_rate)

    def __post_init__(self) -> None:
        if not self.deployment:
            object.__setattr__(self, "deployment", self.key_prefix)
        if self.file_hosts:  # what the rest of the broker reads: every key, every origin
            object.__setattr__(self, "host_keys", tuple(
                key for host in self.file_hosts for key in host.keys))
            object.__setattr__(self, "allowed_origins", cors_origins(self.file_hosts))

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

    @classmethod
    def for_process(cls, env: Mapping[str, str]) -> Settings:
        """:meth:`from_env` for a process's start (gunicorn's workers, Celery, the
        socket proxy): a bad setting prints one line naming the variable and what is
        wrong on stderr, and the process exits with status 3, with no traceback
        (3 is gunicorn's boot error: its master stops instead of respawning)."""
        try:
            return cls.from_env(env)
        except ConfigError as exc:
            print(f"vaporforge: configuration error: {exc.message}", file=sys.stderr,
                  flush=True)
            raise SystemExit(CONFIG_EXIT_STATUS) from None


CONFIG_EXIT_STATUS = 3
"""A process's exit status when its settings are refused."""


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
