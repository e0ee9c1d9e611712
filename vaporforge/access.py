"""Who may start a login or use the refresh relay without a host's word.

With ``VF_HOST_KEYS`` set, every creation needs a connect ticket and every
refresh a grant, whatever the client's address. Without host keys the broker is
in *protected mode*: only clients on loopback and private networks are served
without them (a developer's machine, a compose network, a private backend);
everyone else gets ``401 ticket_required`` (``grant_required`` on the relay).
The address is the one the API derived after ``VF_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import hashlib
import ipaddress

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))

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


def user_digest(host: str, end_user: str) -> str:
    """The one name of a host's user in Redis keys and limits: a SHA-256, so no
    host's user id ever appears in a key."""
    return hashlib.sha256(f"{host}\n{end_user}".encode()).hexdigest()
