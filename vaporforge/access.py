"""Who may be served without a host's word, and who may read operations data.

One list of private networks serves both rules:

- **Logins and the refresh relay.** With hosts (``VF_HOST_KEYS`` or
  ``VF_HOSTS_FILE``), every creation needs a connect ticket and every refresh a
  grant, whatever the client's address. Without hosts the broker is in
  *protected mode*: only clients on loopback and private networks are served
  without them (a developer's machine, a compose network, a private backend);
  everyone else gets ``401 ticket_required`` (``grant_required`` on the relay).
  The address is the one the API derived after ``VF_TRUSTED_PROXIES``.
- **Operations data** (``/metrics``, the details of ``/readyz``, a worker's
  ``VF_METRICS_PORT``). With ``VF_METRICS_TOKEN`` set, only a caller sending
  ``Authorization: Bearer <token>``; without it, only a caller connected straight
  from a loopback or private address, and not through a proxy: a request that
  carries ``X-Forwarded-For`` or ``Forwarded`` came through the edge (or claims
  to), and the edge is where the public comes in. Behind Docker's port
  publishing every outside caller looks like the network's gateway, a private
  address; the forwarding header is what tells them apart from a scraper on the
  compose network. Everyone else is told nothing (the API answers 404, so the
  route is not advertised). Token comparison takes the same time whatever the
  tokens share.

A browser origin is judged in one form everywhere (:func:`origin_of`): a ticket's
``origin``, a host's ``origins`` in ``VF_HOSTS_FILE`` and the ``Origin`` header a
creation carries (:func:`origin_allowed`); ``VF_ALLOWED_ORIGINS`` is trimmed the
same way (:func:`origin_text`) but, as before, not judged.

The other trust rules live here too, once each: every URL the broker calls or
accepts (token URL, webhooks, origins) is https, or http on loopback
(:func:`url_allowed`); a bearer token is read by :func:`bearer`; a secret or
token is named in Redis and records only by its SHA-256 (:func:`digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
"""Loopback, RFC 1918 and unique-local IPv6, as the README names them.
(``ipaddress``'s own ``is_private`` also counts documentation and other ranges.)"""

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded")

PROTECTED_MODE_WARNING = (
    "VF_HOST_KEYS is not set: protected mode. Logins and refreshes are served only to "
    "clients on loopback and private networks (127/8, ::1, 10/8, 172.16/12, 192.168/16, "
    "fc00::/7, after VF_TRUSTED_PROXIES); others get 401 ticket_required. Set VF_HOST_KEYS "
    "and VF_GRANT_KEYS to put the broker behind a host app.")


def is_private(address: str | None) -> bool:
    """True for a loopback or private-network address (IPv4-mapped IPv6 included)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in PRIVATE_NETWORKS)


def needs_ticket(host_keys_set: bool, address: str | None) -> bool:
    """Whether a creation from ``address`` must carry a ticket (the relay: a grant)."""
    return host_keys_set or not is_private(address)


def digest(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8), as 64 hex digits: how a session token, a
    ticket, a refresh token or a grant family is named where it is stored."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def user_digest(host: str, end_user: str) -> str:
    """The one name of a host's user in Redis keys and limits: a SHA-256, so no
    host's user id ever appears in a key."""
    return digest(f"{host}\n{end_user}")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_allowed(url: str) -> bool:
    """True for an https URL with a host, or http on a loopback address (tests);
    never one with credentials or a malformed port."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))


def origin_text(value: str) -> str:
    """``value`` as an origin is written: no surrounding space, no trailing slash."""
    return value.strip().rstrip("/")


def origin_of(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, if ``value`` is just an origin
    (https, or http on a loopback address); else None."""
    value = origin_text(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.path or parts.query or parts.fragment or not url_allowed(value):
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(allowed: Iterable[str], presented: str | None) -> bool:
    """Whether a request's ``Origin`` header (None: none sent) is one of ``allowed``
    (each as :func:`origin_of` gives it); a missing or malformed header is none of them."""
    origin = origin_of(presented or "")
    return origin is not None and origin in allowed


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, else ''."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def may_read_operations(token: str, headers: Mapping[str, str], peer: str | None) -> bool:
    """True when the caller may see operations data (see the module docstring).

    ``token`` is the configured VF_METRICS_TOKEN ('' for none), ``headers`` the
    request's headers (any case of names), ``peer`` the address of the socket's
    other end, before any proxy header is applied.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if token:
        offered = bearer(lowered.get("authorization"))
        return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())
    if any(name in lowered for name in FORWARDING_HEADERS):
        return False
    return is_private(peer)
