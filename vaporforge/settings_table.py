"""The settings table: one :class:`Var` row per environment variable.

Each row names the variable, the :class:`~vaporforge.settings.Settings` field it
fills, how its text is read (a parser from :mod:`vaporforge.settings_parse`), its
default and a one-line meaning; :data:`CHECKS` are the rules spanning rows.
:mod:`vaporforge.settings` builds the settings and the README's table from it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vaporforge import defaults
from vaporforge import settings_parse as p
from vaporforge.errors import ConfigError
from vaporforge.grants import parse_grant_keys
from vaporforge.hostkeys import parse_host_keys
from vaporforge.hosts_file import read_file
from vaporforge.session.states import LoginMode
from vaporforge.webhooks import webhook_secret_var, webhook_url_var


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


@dataclass(frozen=True)
class HostsFileVar(Var):
    """``VF_HOSTS_FILE``: a file whose reading needs rows above it (``VF_MODES``,
    the rates) and the environment (the variables that hold its secrets)."""

    def read(self, env: Mapping[str, str], values: Mapping[str, Any]) -> Any:
        path = env.get(self.name, "").strip()
        if not path:
            return copy.copy(self.default)
        return read_file(path, values["modes"], values["user_create_rate"],
                         values["user_refresh_rate"], env)


TRUST_VARS: tuple[Var, ...] = (
    Var("VF_HOST_KEYS", "host_keys", p.refusing(parse_host_keys), (),
        "comma-separated `NAME=sha256:<64 hex>`: the SHA-256 of each host app's secret key "
        "(`python -m vaporforge.hostkeys new NAME` makes one); two entries with one name are a "
        "rotation. Set: every creation needs a connect ticket and every refresh a grant. "
        "Empty: *protected mode*, creations and refreshes only from loopback and private "
        "networks (127/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7, after "
        "`VF_TRUSTED_PROXIES`); others get `401 ticket_required` / `grant_required`",
        shown="empty (protected mode)"),
    Var("VF_GRANT_KEYS", "grant_keys", p.refusing(parse_grant_keys), (),
        "comma-separated base64url keys of at least 32 bytes that sign refresh grants (the "
        "first signs, all verify); required with `VF_HOST_KEYS`"),
    Var("VF_GRANT_TTL", "grant_ttl", p.whole(), defaults.GRANT_TTL,
        "seconds a refresh grant stays valid (90 days); each refresh answers a new one"),
    Var("VF_TICKET_TTL", "ticket_ttl", p.whole(), defaults.TICKET_TTL,
        "seconds a connect ticket waits for its one creation"),
    Var("VF_TICKET_RATE", "ticket_rate", p.text, defaults.TICKET_RATE,
        "tickets minted per host"),
    Var("VF_USER_CREATE_RATE", "user_create_rate", p.text, defaults.USER_CREATE_RATE,
        "creations per host user (host, `end_user`); beyond: `429 rate_limited` with "
        "`Retry-After`"),
    Var("VF_USER_REFRESH_RATE", "user_refresh_rate", p.text, defaults.USER_REFRESH_RATE,
        "refreshes per host user"),
    Var("VF_IDLE_TIMEOUT", "idle_timeout", p.whole(), defaults.IDLE_TIMEOUT,
        "seconds an `awaiting_code` session may go unpolled before it fails `abandoned` and "
        "its CLI stops"),
    Var("VF_WEBHOOK_URL", "webhook_url", webhook_url_var, "",
        "where events are POSTed (https; http only to a loopback address)",
        shown="empty (off)"),
    Var("VF_WEBHOOK_SECRET", "webhook_secret", webhook_secret_var, "",
        "the HMAC-SHA256 key of `VaporForge-Signature` (at least 16 characters); set with "
        "`VF_WEBHOOK_URL`"),
    HostsFileVar("VF_HOSTS_FILE", "file_hosts", p.text, (),
                 "path of a TOML file with one `[hosts.NAME]` table per host app: its `keys`, "
                 "its own `webhook_url` and secret (`webhook_secret_env` or "
                 "`webhook_secret_file`, never inline), `origins`, `modes` (of `VF_MODES`) and "
                 "`user_create_rate`/`user_refresh_rate` (see [Several host "
                 "apps](#several-host-apps-one-broker)). Replaces `VF_HOST_KEYS`, "
                 "`VF_WEBHOOK_URL`, `VF_WEBHOOK_SECRET` and `VF_ALLOWED_ORIGINS`, which must "
                 "then be unset; a bad file stops the process naming its line, host and key",
                 shown="empty (the single-host variables)"),
)
"""The host-authorised logins' settings (host keys, tickets, grants, events)."""

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
    Var("VF_MODES", "modes", p.modes, tuple(LoginMode(m) for m in defaults.MODES),
        "comma-separated sign-in modes this deployment offers, the first preselected (and used "
        "when a creation names none); any other mode is `403 mode_not_allowed`. Unknown, "
        "repeated or no modes stop the process (`config_error`); so does a `VF_WARM_POOL` mode "
        "not listed here. See [Before you offer it](#before-you-offer-it)",
        shown=f"`{','.join(defaults.MODES)}`"),
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
    Var("VF_WEBHOOK_CONCURRENCY", "webhook_concurrency", p.whole(),
        defaults.WEBHOOK_CONCURRENCY,
        "threads per worker process that deliver webhook events, none of them a login "
        f"thread; each attempt takes {defaults.WEBHOOK_TIMEOUT} s at most in all"),
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
        "refuse sessions without `client_public_key` (`400 client_key_required`). `false` is "
        "the only way to get plaintext credentials, and it costs this: the ready payload "
        "(refresh token, access token, API key) then waits in Redis in plaintext for up to "
        "`VF_CREDENTIALS_TTL` seconds, readable by anyone who can read Redis or its dumps, and "
        "crosses every proxy between the broker and the browser as plain JSON. Set `false` only "
        "for a trusted backend client that cannot make a key",
        shown="`true` (settings, image, `make dev`, compose)"),
    Var("VF_ALLOWED_ORIGINS", "allowed_origins", p.origins, (),
        "comma-separated browser origins allowed to call the API", shown="empty (no CORS)"),
    Var("VF_CREATE_RATE", "create_rate", p.text, defaults.CREATE_RATE,
        "session creations per client network (an IPv4 address or an IPv6 /64)"),
    Var("VF_POLL_RATE", "poll_rate", p.text, defaults.POLL_RATE,
        "status polls (`GET`, `HEAD`) per session, counted only when the token matched"),
    Var("VF_ACTION_RATE", "action_rate", p.text, defaults.ACTION_RATE,
        "code submissions, claims and cancels per session, counted only when the token matched"),
    Var("VF_PROBE_RATE", "probe_rate", p.text, defaults.PROBE_RATE,
        "failed session look-ups (unknown id, wrong token), `/readyz` and `/api/auth/modes` "
        "calls per client network"),
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
        "`X-Forwarded-For` hops to trust for the client address"),
    Var("VF_TOKEN_URL", "token_url", p.token_url, defaults.TOKEN_URL,
        "where `POST /api/auth/refresh` relays the refresh grant; https, or http on a loopback "
        "address (tests)"),
    Var("VF_REFRESH_RATE", "refresh_rate", p.text, defaults.REFRESH_RATE,
        "refreshes per client address"),
    Var("VF_REFRESH_TIMEOUT", "refresh_timeout", p.number(), defaults.REFRESH_TIMEOUT,
        "seconds the relay's whole upstream request may take (connect at most "
        f"{defaults.REFRESH_CONNECT_TIMEOUT:g} of it; a slow drip is cut at this bound); the "
        f"answer is read at most {defaults.REFRESH_MAX_ANSWER // 1024} KiB far"),
    *TRUST_VARS,
)
"""Every setting, in the README's order; a row may derive its default from rows above it."""


def _sentinel_urls(values: Mapping[str, Any]) -> None:
    """Through Sentinel the store and broker URLs must be plain ``redis://``."""
    if values["redis_sentinels"]:
        p.through_sentinel("REDIS_URL", values["redis_url"])
        p.through_sentinel("VF_BROKER_URL", values["broker_url"])


def _trust(values: Mapping[str, Any]) -> None:
    """Host keys need grant keys; the webhook needs both its URL and its secret; the
    hosts come from the file or from the single-host variables, never both."""
    if values["file_hosts"]:
        both = [name for name, attr in (("VF_HOST_KEYS", "host_keys"),
                                         ("VF_WEBHOOK_URL", "webhook_url"),
                                         ("VF_WEBHOOK_SECRET", "webhook_secret"),
                                         ("VF_ALLOWED_ORIGINS", "allowed_origins"))
                if values[attr]]
        if both:
            raise ConfigError(f"VF_HOSTS_FILE is set, and so is {', '.join(both)}: each host's "
                              "keys, webhook and origins go in its [hosts.NAME] table of the "
                              "file; unset the variables")
    hosts = "VF_HOSTS_FILE" if values["file_hosts"] else "VF_HOST_KEYS"
    if (values["host_keys"] or values["file_hosts"]) and not values["grant_keys"]:
        raise ConfigError(f"{hosts} is set but VF_GRANT_KEYS is not: the refresh relay "
                          "needs a key to sign refresh grants with (comma-separated base64url "
                          "keys of at least 32 bytes; the first signs, all verify)")
    if bool(values["webhook_url"]) != bool(values["webhook_secret"]):
        raise ConfigError("VF_WEBHOOK_URL and VF_WEBHOOK_SECRET go together: set both or "
                          "neither")


def _warm_modes_offered(values: Mapping[str, Any]) -> None:
    """A warm entry for a mode nobody may ask for would only hold memory."""
    unoffered = [m.value for m in values["warm_pool"] if m not in values["modes"]]
    if unoffered:
        raise ConfigError(f"VF_WARM_POOL names {', '.join(unoffered)}, which VF_MODES "
                          "does not offer")


CHECKS: tuple[Callable[[Mapping[str, Any]], None], ...] = (
    _sentinel_urls, _warm_modes_offered, _trust)
"""Rules that span several rows, run once every row is read."""
