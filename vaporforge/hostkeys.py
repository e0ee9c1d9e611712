"""Host keys: how a host app's backend proves itself to the broker.

``VF_HOST_KEYS`` holds comma-separated ``NAME=sha256:<64 hex>`` entries: the
SHA-256 of each host's secret key, never the secret. Two entries with one name
are a rotation: both keys work and both name the same host. ``VF_HOSTS_FILE``
lists the same ``sha256:<64 hex>`` values under each host (:mod:`vaporforge.hosts`).

Contract:
- :func:`parse_host_keys` raises ``ValueError`` with a sentence naming the bad
  entry's position (never its value); the settings turn it into a ConfigError.
- :func:`parse_digest` reads one ``sha256:<64 hex>`` value (None when it is not one).
- :func:`verify` hashes the presented key once and compares it with every
  entry in constant time, with no early exit, so neither the answer time nor
  the answer says which entry (or which part of one) was close.
- ``python -m vaporforge.hostkeys new NAME`` prints a new secret (``vfhk_`` and
  32 random bytes, base64url) once, and the entry line to add.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import sys
from dataclasses import dataclass

from vaporforge.access import digest

PREFIX = "vfhk_"
SECRET_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class HostKey:
    name: str
    digest: bytes
    """SHA-256 of the host's secret key (32 bytes)."""


def parse_digest(value: str) -> bytes | None:
    """``sha256:<64 hex>`` (any case) → the 32 bytes; None for anything else."""
    match = _DIGEST.match(value.strip().lower())
    return bytes.fromhex(match.group(1)) if match else None


def parse_host_keys(raw: str) -> tuple[HostKey, ...]:
    """``VF_HOST_KEYS`` → entries; empty text means no host keys (protected mode)."""
    keys = []
    entries = [e.strip() for e in raw.split(",")]
    for position, entry in enumerate(entries, start=1):
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        digest = parse_digest(value)
        if not sep or not valid_name(name.strip()) or digest is None:
            raise ValueError(
                f"VF_HOST_KEYS entry {position} must be NAME=sha256:<64 hex digits> (NAME: "
                "letters, digits, '.', '_', '-', at most 64); make one with "
                "`python -m vaporforge.hostkeys new NAME`")
        keys.append(HostKey(name.strip(), digest))
    return tuple(keys)


def valid_name(name: str) -> bool:
    """A host name: letters, digits, '.', '_', '-', at most 64, the first a letter or digit."""
    return bool(_NAME.match(name))


def digest_of(secret: str) -> bytes:
    return bytes.fromhex(digest(secret))


def verify(keys: tuple[HostKey, ...], presented: str) -> str | None:
    """The host name whose key ``presented`` is, or None; constant time over all entries."""
    digest = digest_of(presented)
    found: str | None = None
    for key in keys:
        # Every entry is compared; the result is only chosen, never short-cut.
        if hmac.compare_digest(digest, key.digest) and found is None:
            found = key.name
    return found


def new_secret() -> str:
    raw = secrets.token_bytes(SECRET_BYTES)
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def entry_for(name: str, secret: str) -> str:
    return f"{name}=sha256:{digest_of(secret).hex()}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "new" or not valid_name(args[1]):
        print("usage: python -m vaporforge.hostkeys new NAME   (NAME: letters, digits, "
              "'.', '_', '-')", file=sys.stderr)
        return 2
    secret = new_secret()
    print(f"Host key for {args[1]} (shown once; keep it in the host's backend only):")
    print(f"  {secret}")
    entry = entry_for(args[1], secret)
    print("Add this entry to VF_HOST_KEYS (comma-separated; keep the old entry while rotating):")
    print(f"  {entry}")
    print(f"or, with VF_HOSTS_FILE, this value to keys in [hosts.{args[1]}]:")
    print(f'  "{entry.partition("=")[2]}"')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
