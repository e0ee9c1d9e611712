"""What one fake sign-in service remembers (issued codes, rotated refresh
tokens, its redacted request log)."""

from __future__ import annotations

import json
import sys
import threading
import time
from urllib.parse import parse_qs


# --------------------------------------------------------------------------- server
class _State:
    def __init__(self, strict: bool, email: str, log_path: str | None, quiet: bool):
        self.strict, self.email, self.log_path, self.quiet = strict, email, log_path, quiet
        self.lock = threading.Lock()
        self.issued: dict[str, dict] = {}  # code -> {scope, challenge, redirect_uri, client_id}
        self.used: set[str] = set()
        self.access_tokens: set[str] = set()
        self.requests: list[dict] = []
        self.refresh_bodies: list[dict] = []  # in memory only: holds tokens
        self.rotated: set[str] = set()  # refresh tokens already exchanged
        self.refresh_gate: threading.Event | None = None
        self.slow_refresh = 5.0
        self.refresh_token_lifetime: int | None = None

    def log(self, rec: dict):
        rec = {"t": round(time.time(), 3), **rec}
        line = json.dumps(rec, sort_keys=True)
        with self.lock:
            self.requests.append(rec)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line + "\n")
        if not self.quiet:
            print("fake-oauth " + line, file=sys.stderr, flush=True)


_SECRET_KEYS = {"code", "code_verifier", "refresh_token", "access_token", "state", "code_challenge"}


def _redacted_query(query: str) -> dict:
    out = {}
    for k, vs in parse_qs(query, keep_blank_values=True).items():
        secret = k in _SECRET_KEYS and not (k == "code" and vs[0] == "true")
        out[k] = "<redacted>" if secret else vs[0][:200]
    return out


