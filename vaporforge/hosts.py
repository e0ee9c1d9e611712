"""Hosts as tenants: each host app's own keys, event endpoint, origins, modes and limits.

A host is described in one of two ways, never both:

- **``VF_HOSTS_FILE``**, a TOML file (read with ``tomllib``) with one table per host::

      [hosts.app1]
      keys = ["sha256:<64 hex>"]                   # two while rotating: both work
      webhook_url = "https://app1.example/hooks/vaporforge"
      webhook_secret_env = "APP1_WEBHOOK_SECRET"   # or webhook_secret_file = "/run/secrets/…"
      origins = ["https://app1.example"]           # left out: any origin
      modes = ["console"]                          # left out: VF_MODES
      user_create_rate = "5/hour"                  # left out: VF_USER_CREATE_RATE
      user_refresh_rate = "30/hour"                # left out: VF_USER_REFRESH_RATE

  A secret is never written in the file: ``webhook_secret_env`` names an
  environment variable and ``webhook_secret_file`` a file (its text, surrounding
  whitespace dropped) that holds it. Each host's events go to its own
  ``webhook_url`` only, signed with its own secret; a host without one gets none.
- **The single-host variables** (``VF_HOST_KEYS`` and the rest, as before this
  module): every name in ``VF_HOST_KEYS`` is a host with ``VF_MODES``, any origin
  (``VF_ALLOWED_ORIGINS`` stays the CORS list it was) and the deployment's rates,
  and ``VF_WEBHOOK_URL``/``VF_WEBHOOK_SECRET`` get every event, as they always did.

Contract:
- :func:`vaporforge.hosts_file.read_file` returns the hosts or raises ConfigError
  naming the file, the
  line when it can be found, the host table and the key that is wrong: an unknown
  key, a host without keys, a key that is not ``sha256:<64 hex>`` or that another
  host has too, a mode outside ``VF_MODES``, an origin that is not one, a rate the
  limiter cannot read, an inline secret, a secret that cannot be read or is short.
  No message repeats a secret.
- :meth:`Hosts.by_key` turns a presented host key into its host, comparing with
  every key of every host in constant time (:func:`vaporforge.hostkeys.verify`).
- :meth:`Host.allows` is what a ticket of that host may never go beyond: its
  modes and its origins (a host that lists origins refuses a creation without
  an ``Origin`` header).
- :meth:`Hosts.webhook_for` routes an event by the host named in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from vaporforge.access import origin_allowed
from vaporforge.errors import ModeNotAllowed, OriginNotAllowed
from vaporforge.hostkeys import HostKey, verify
from vaporforge.session.states import LoginMode


@dataclass(frozen=True)
class Webhook:
    """Where a host's events are POSTed, and the key that signs them."""

    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Host:
    """One host app and everything about it."""

    name: str
    keys: tuple[HostKey, ...] = field(repr=False)
    modes: tuple[LoginMode, ...]
    """Those of ``VF_MODES`` its users may sign in with, the first preselected."""
    user_create_rate: str
    user_refresh_rate: str
    origins: tuple[str, ...] = ()
    """Browser origins its tickets may be used from; empty: any (and no CORS)."""
    webhook: Webhook | None = None

    def allows(self, mode: LoginMode, origin: str | None) -> None:
        """Raise ModeNotAllowed / OriginNotAllowed unless this host allows a
        login in ``mode`` from ``origin`` (the request's ``Origin`` header)."""
        self.allows_mode(mode)
        self.allows_origin(origin)

    def allows_mode(self, mode: LoginMode) -> None:
        if mode not in self.modes:
            raise ModeNotAllowed(f"This app offers only "
                                 f"{', '.join(m.value for m in self.modes)} sign-ins.")

    def allows_origin(self, origin: str | None) -> None:
        """Any origin when the host lists none; else one of its own, and a request
        without an ``Origin`` header is from none of them."""
        if self.origins and not origin_allowed(self.origins, origin):
            raise OriginNotAllowed()


@dataclass(frozen=True)
class Hosts:
    """Every host of the deployment (empty: none, protected mode)."""

    hosts: tuple[Host, ...] = ()
    shared_webhook: Webhook | None = None
    """``VF_WEBHOOK_URL`` with the single-host variables: every event goes there
    (a login without a host too), as before hosts had their own."""

    def __bool__(self) -> bool:
        return bool(self.hosts)

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    @property
    def keys(self) -> tuple[HostKey, ...]:
        return tuple(key for host in self.hosts for key in host.keys)

    def get(self, name: str) -> Host | None:
        return next((host for host in self.hosts if host.name == name), None)

    def by_key(self, presented: str) -> Host | None:
        """The host whose key ``presented`` is, or None; constant time over every key."""
        name = verify(self.keys, presented)
        return None if name is None else self.get(name)

    def webhook_for(self, name: str) -> Webhook | None:
        """Where an event about host ``name`` goes: every event to the shared
        webhook when there is one, else the host's own; None: nowhere."""
        if self.shared_webhook is not None:
            return self.shared_webhook
        host = self.get(name)
        return host.webhook if host else None

    def any_webhook(self) -> bool:
        return self.shared_webhook is not None or any(h.webhook for h in self.hosts)


def from_variables(keys: tuple[HostKey, ...], modes: tuple[LoginMode, ...], webhook_url: str,
                   webhook_secret: str, user_create_rate: str,
                   user_refresh_rate: str) -> Hosts:
    """The hosts of the single-host variables: one per name in ``VF_HOST_KEYS``."""
    shared = Webhook(webhook_url, webhook_secret) if webhook_url else None
    names = dict.fromkeys(key.name for key in keys)
    return Hosts(tuple(
        Host(name, tuple(k for k in keys if k.name == name), modes, user_create_rate,
             user_refresh_rate, webhook=shared) for name in names), shared)


# -- VF_HOSTS_FILE -------------------------------------------------------------------


def cors_origins(hosts: Iterable[Host]) -> tuple[str, ...]:
    """Every origin some host allows, once each: the API's CORS list with a hosts file."""
    return tuple(dict.fromkeys(origin for host in hosts for origin in host.origins))
