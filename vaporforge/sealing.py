"""Sealing the credential payload to the browser's ephemeral key (compact JWE).

The browser makes an EC P-256 key pair with WebCrypto and sends the public half
as a JWK; the worker encrypts the payload to it (``ECDH-ES`` + ``A256GCM``)
before anything reaches Redis, so only that browser can read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from joserfc import jwe
from joserfc.jwk import ECKey

from vaporforge.errors import InvalidClientKey

ALGORITHM = "ECDH-ES"
ENCRYPTION = "A256GCM"
_ALLOWED_MEMBERS = {"kty", "crv", "x", "y", "kid", "use", "alg", "key_ops", "ext"}


def public_jwk(candidate: Any) -> dict[str, str]:
    """The canonical public JWK (kty, crv, x, y) or InvalidClientKey."""
    if not isinstance(candidate, Mapping):
        raise InvalidClientKey()
    if "d" in candidate:
        raise InvalidClientKey("client_public_key holds a private key; send only the public "
                               "half.")
    if set(candidate) - _ALLOWED_MEMBERS or candidate.get("kty") != "EC" or \
            candidate.get("crv") != "P-256":
        raise InvalidClientKey()
    if not all(isinstance(candidate.get(k), str) and candidate.get(k) for k in ("x", "y")):
        raise InvalidClientKey()
    jwk = {"kty": "EC", "crv": "P-256", "x": candidate["x"], "y": candidate["y"]}
    try:
        ECKey.import_key(jwk)  # checks the point is on the curve
    except Exception:  # noqa: BLE001 - any parse failure means the same to the caller
        raise InvalidClientKey() from None
    return jwk


def seal(payload: Mapping[str, Any], jwk: Mapping[str, str]) -> str:
    """``payload`` as JSON, encrypted to ``jwk`` as a compact JWE."""
    key = ECKey.import_key(dict(jwk))
    plaintext = json.dumps(payload, separators=(",", ":")).encode()
    return jwe.encrypt_compact({"alg": ALGORITHM, "enc": ENCRYPTION}, plaintext, key)
