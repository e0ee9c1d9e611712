"""Who may read the operations data: ``/metrics``, the details of ``/readyz`` and a
worker's ``VF_METRICS_PORT``.

The rule, in one place for the API and the workers:

- with ``VF_METRICS_TOKEN`` set, only a caller sending ``Authorization: Bearer <token>``;
- without it, only a caller connected straight from a loopback or private address
  (RFC 1918, unique-local IPv6, link-local) — and not through a proxy: a request that
  carries ``X-Forwarded-For`` or ``Forwarded`` came through the edge (or claims to),
  and the edge is where the public comes in. Behind Docker's port publishing every
  outside caller looks like the network's gateway, a private address; the forwarding
  header is what tells them apart from a scraper on the compose network.

Everyone else is told nothing (the API answers 404, so the route is not advertised).
The comparison of tokens takes the same time whatever they share.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded")
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))
"""Loopback, RFC 1918, unique-local and link-local: where an operator's scraper sits.
(``ipaddress``'s own is_private also counts documentation ranges; named here instead.)"""


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, else ''."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def private_address(address: str | None) -> bool:
    """Loopback, RFC 1918, unique-local or link-local (IPv4-mapped IPv6 too)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in PRIVATE_NETWORKS)


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
    return private_address(peer)
