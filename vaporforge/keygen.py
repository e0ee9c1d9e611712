"""Every secret a deployment needs, made in one command.

    python -m vaporforge.keygen HOST_NAME

prints, once, as ``NAME=value`` lines ready for an environment file:

- ``VF_HOST_KEYS``: the host's entry (``NAME=sha256:<hex>``; the broker keeps only
  this digest), and ``VAPORFORGE_HOST_KEY``: the secret itself, for the host app's
  backend (``Authorization: Bearer``) and nowhere else;
- ``VF_GRANT_KEYS``: a 32-byte key (base64url) that signs refresh grants;
- ``VF_WEBHOOK_SECRET``: 32 random bytes (base64url) that sign the host's events;
- ``VF_METRICS_TOKEN``: the Bearer token for ``/metrics`` and the workers' ports.

Contract: every value is fresh from :mod:`secrets`; the output is accepted by
``Settings.from_env`` as it stands (tests/test_keygen.py). Nothing is written
anywhere but standard output.
"""

from __future__ import annotations

import secrets
import sys

from vaporforge.hostkeys import entry_for, new_secret, valid_name

KEY_BYTES = 32


def secret_lines(host: str) -> list[str]:
    """The environment lines for one host's deployment (see the module docstring)."""
    if not valid_name(host):
        raise ValueError("a host name is letters, digits, '.', '_', '-', at most 64")
    host_key = new_secret()
    return [
        "# Made by python -m vaporforge.keygen: shown once, keep them in your secret store.",
        "# The broker's side:",
        f"VF_HOST_KEYS={entry_for(host, host_key)}",
        f"VF_GRANT_KEYS={secrets.token_urlsafe(KEY_BYTES)}",
        f"VF_WEBHOOK_SECRET={secrets.token_urlsafe(KEY_BYTES)}",
        f"VF_METRICS_TOKEN={secrets.token_urlsafe(KEY_BYTES)}",
        f"# The host app's backend ({host}): its key, and the same VF_WEBHOOK_SECRET to verify",
        f"VAPORFORGE_HOST_KEY={host_key}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m vaporforge.keygen HOST_NAME", file=sys.stderr)
        return 2
    try:
        lines = secret_lines(args[0])
    except ValueError as exc:
        print(f"vaporforge.keygen: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
