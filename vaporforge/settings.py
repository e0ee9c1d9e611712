"""The one frozen settings object, read from the environment once and passed in."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from vaporforge import defaults
from vaporforge.errors import BrokerError, ErrorCode
from vaporforge.refresh import TOKEN_URL, token_url_allowed
from vaporforge.states import LoginMode

Number = TypeVar("Number", int, float)


class ConfigError(BrokerError):
    code = ErrorCode.CONFIG_ERROR


def _number(env: Mapping[str, str], name: str, default: Number, parse: type[Number],
            minimum: Number, what: str) -> Number:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    return _number(env, name, default, int, minimum, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, 0.01, "a number")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _host_map(raw: str) -> dict[str, str]:
    hosts = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, address = pair.partition(":")
        if not sep or not name or not address:
            raise ConfigError("VF_DOCKER_EXTRA_HOSTS must be name:address pairs, comma-separated")
        hosts[name] = address
    return hosts


def _warm_pool(raw: str) -> dict[LoginMode, int]:
    """``oauth:2,setup-token:1`` → {mode: entries}; empty means off."""
    pool: dict[LoginMode, int] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        mode, _, count = pair.rpartition(":")
        try:
            pool[LoginMode(mode.strip())] = int(count)
        except ValueError:
            raise ConfigError("VF_WARM_POOL must be mode:count pairs, comma-separated, with "
                              f"modes {', '.join(m.value for m in LoginMode)}") from None
        if pool[LoginMode(mode.strip())] < 0:
            raise ConfigError("VF_WARM_POOL counts must not be negative")
    return {mode: count for mode, count in pool.items() if count}


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or choices[0]
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    """``host:port`` entries, comma-separated (an IPv6 host in brackets)."""
    found = []
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        host, sep, port = entry.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("VF_REDIS_SENTINELS must be host:port entries, comma-separated, "
                              f"got {entry!r}")
        found.append((host, int(port)))
    return tuple(found)


def _sentinel_master(env: Mapping[str, str]) -> str:
    name = env.get("VF_REDIS_SENTINEL_MASTER", "").strip() or "mymaster"
    if any(c.isspace() or c in "/,;:@" for c in name):
        raise ConfigError(f"VF_REDIS_SENTINEL_MASTER must be a plain name, got {name!r}")
    return name


def _through_sentinel(name: str, url: str) -> None:
    """Through Sentinel only a URL's database number and credentials are used."""
    if urlsplit(url).scheme != "redis":
        raise ConfigError(f"{name} must be a redis:// URL when VF_REDIS_SENTINELS is set "
                          "(TLS and unix sockets are not supported through Sentinel)")


def default_work_dir(env: Mapping[str, str]) -> str:
    """The service user's own runtime folder when it has one, else a per-user
    folder in /tmp (the local runtime refuses one that someone else owns)."""
    runtime_dir = env.get("XDG_RUNTIME_DIR", "").strip()
    if runtime_dir:
        return os.path.join(runtime_dir, "vaporforge")
    return f"/tmp/vaporforge-{os.geteuid()}"


def _deployment(env: Mapping[str, str], key_prefix: str) -> str:
    """VF_DEPLOYMENT, else the key prefix: the value of the Docker label that
    names the deployment whose login containers this worker may reap."""
    name = env.get("VF_DEPLOYMENT", "").strip() or key_prefix
    if not name.isprintable() or len(name) > 128:
        raise ConfigError("VF_DEPLOYMENT (default: VF_KEY_PREFIX) must be printable text of at "
                          "most 128 characters")
    return name


def _token_url(url: str) -> str:
    if not token_url_allowed(url):
        raise ConfigError("VF_TOKEN_URL must be an https URL (http only for a loopback "
                          "address, for tests)")
    return url


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _db_of(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = "redis://127.0.0.1:6379/1"
    redis_sentinels: tuple[tuple[str, int], ...] = ()
    """With entries, every Redis client finds the master through these sentinels;
    the host part of ``redis_url`` and ``broker_url`` is then ignored."""
    redis_sentinel_master: str = "mymaster"
    runtime: str = "local"
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
    metrics_port: int = 0
    # VF_METRICS_TOKEN: the Bearer token for /metrics and /readyz details; empty
    # means loopback and private-network callers only (vaporforge.access).
    metrics_token: str = field(default="", repr=False)
    log_format: str = "json"
    worker_concurrency: int = defaults.WORKER_CONCURRENCY
    work_dir: str = field(default_factory=lambda: default_work_dir(os.environ))
    key_prefix: str = defaults.KEY_PREFIX
    # Labels this deployment's login containers; empty means key_prefix.
    deployment: str = ""
    login_image: str = "vaporforge/login:latest"
    docker_network: str = "bridge"
    docker_runtime: str | None = None
    docker_memory: str = "512m"
    docker_cpus: float = 1.0
    docker_pids: int = 128
    docker_host: str | None = None
    docker_extra_hosts: Mapping[str, str] = field(default_factory=dict)
    require_client_key: bool = False
    allowed_origins: tuple[str, ...] = ()
    create_rate: str = "10/minute"
    poll_rate: str = "240/minute"
    action_rate: str = "30/minute"
    probe_rate: str = "60/minute"
    max_code_attempts: int = 5
    max_sessions: int = 1000
    trusted_proxies: int = 0
    extra_sign_in_hosts: frozenset[str] = frozenset()
    token_url: str = TOKEN_URL
    refresh_rate: str = "30/minute"
    refresh_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.deployment:
            object.__setattr__(self, "deployment", self.key_prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from ``env`` (usually ``os.environ``); raises ConfigError."""
        redis_url = env.get("REDIS_URL", "").strip() or cls.redis_url
        broker_url = env.get("VF_BROKER_URL", "").strip() or _with_db(
            redis_url, (_db_of(redis_url) + 1) % 16)
        sentinels = _sentinels(env.get("VF_REDIS_SENTINELS", ""))
        if sentinels:
            _through_sentinel("REDIS_URL", redis_url)
            _through_sentinel("VF_BROKER_URL", broker_url)
        runtime = env.get("VF_RUNTIME", "local").strip() or "local"
        if runtime not in ("local", "docker"):
            raise ConfigError(f"VF_RUNTIME must be local or docker, got {runtime!r}")
        command = tuple(shlex.split(env.get("VF_LOGIN_COMMAND", defaults.LOGIN_COMMAND)))
        if not command:
            raise ConfigError("VF_LOGIN_COMMAND must name the CLI executable")
        login_env = {}
        for pair in shlex.split(env.get("VF_LOGIN_ENV", "")):
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise ConfigError("VF_LOGIN_ENV must be space-separated NAME=VALUE pairs")
            login_env[name] = value
        key_prefix = env.get("VF_KEY_PREFIX", "").strip() or defaults.KEY_PREFIX
        values: dict[str, Any] = dict(
            redis_url=redis_url,
            broker_url=broker_url,
            redis_sentinels=sentinels,
            redis_sentinel_master=_sentinel_master(env),
            runtime=runtime,
            login_command=command,
            login_env=login_env,
            session_ttl=_int(env, "VF_SESSION_TTL", defaults.SESSION_TTL),
            credentials_ttl=_int(env, "VF_CREDENTIALS_TTL", defaults.CREDENTIALS_TTL),
            code_wait_timeout=_float(env, "VF_CODE_WAIT_TIMEOUT", defaults.CODE_WAIT_TIMEOUT),
            url_timeout=_float(env, "VF_URL_TIMEOUT", defaults.URL_TIMEOUT),
            exchange_timeout=_float(env, "VF_EXCHANGE_TIMEOUT", defaults.EXCHANGE_TIMEOUT),
            heartbeat_ttl=_int(env, "VF_HEARTBEAT_TTL", defaults.HEARTBEAT_TTL, minimum=2),
            start_timeout=_int(env, "VF_START_TIMEOUT", defaults.START_TIMEOUT),
            warm_pool=_warm_pool(env.get("VF_WARM_POOL", "")),
            warm_max_age=_int(env, "VF_WARM_MAX_AGE", defaults.WARM_MAX_AGE, minimum=5),
            reap_interval=_int(env, "VF_REAP_INTERVAL", defaults.REAP_INTERVAL),
            metrics_port=_int(env, "VF_METRICS_PORT", 0, minimum=0),
            metrics_token=env.get("VF_METRICS_TOKEN", "").strip(),
            log_format=_choice(env, "VF_LOG_FORMAT", ("json", "text")),
            worker_concurrency=_int(env, "VF_WORKER_CONCURRENCY",
                                    defaults.WORKER_CONCURRENCY),
            work_dir=env.get("VF_WORK_DIR", "").strip() or default_work_dir(env),
            key_prefix=key_prefix,
            deployment=_deployment(env, key_prefix),
            login_image=env.get("VF_LOGIN_IMAGE", "").strip() or cls.login_image,
            docker_network=env.get("VF_DOCKER_NETWORK", "").strip() or cls.docker_network,
            docker_runtime=env.get("VF_DOCKER_RUNTIME", "").strip() or None,
            docker_memory=env.get("VF_DOCKER_MEMORY", "").strip() or cls.docker_memory,
            docker_pids=_int(env, "VF_DOCKER_PIDS", cls.docker_pids),
            docker_host=env.get("DOCKER_HOST", "").strip() or None,
            docker_extra_hosts=_host_map(env.get("VF_DOCKER_EXTRA_HOSTS", "")),
            docker_cpus=_float(env, "VF_DOCKER_CPUS", cls.docker_cpus),
            require_client_key=_bool(env, "VF_REQUIRE_CLIENT_KEY", False),
            allowed_origins=tuple(o.strip().rstrip("/") for o in
                                  env.get("VF_ALLOWED_ORIGINS", "").split(",") if o.strip()),
            create_rate=env.get("VF_CREATE_RATE", "").strip() or cls.create_rate,
            poll_rate=env.get("VF_POLL_RATE", "").strip() or cls.poll_rate,
            action_rate=env.get("VF_ACTION_RATE", "").strip() or cls.action_rate,
            probe_rate=env.get("VF_PROBE_RATE", "").strip() or cls.probe_rate,
            max_code_attempts=_int(env, "VF_MAX_CODE_ATTEMPTS", cls.max_code_attempts),
            max_sessions=_int(env, "VF_MAX_SESSIONS", cls.max_sessions),
            trusted_proxies=_int(env, "VF_TRUSTED_PROXIES", 0, minimum=0),
            extra_sign_in_hosts=frozenset(
                h.strip().lower() for h in env.get("VF_EXTRA_SIGN_IN_HOSTS", "").split(",")
                if h.strip()),
            token_url=_token_url(env.get("VF_TOKEN_URL", "").strip() or TOKEN_URL),
            refresh_rate=env.get("VF_REFRESH_RATE", "").strip() or cls.refresh_rate,
            refresh_timeout=_float(env, "VF_REFRESH_TIMEOUT", cls.refresh_timeout),
        )
        return cls(**values)
