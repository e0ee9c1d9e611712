"""The README's webhook checks ("Put it behind your app"), run as written: the
openssl one in bash and the Python one, against the broker's own signer."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from pathlib import Path

from tests.support.processes import ROOT
from vaporforge.webhooks import signature

WEBHOOK_SECRET = secrets.token_urlsafe(32)


def readme_verify_blocks() -> tuple[str, str]:
    readme = (ROOT / "README.md").read_text()
    part = readme.split("**3. Verify a webhook.**", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```sh\n(.*?)```", part, re.S)
    python = re.search(r"```python\n(.*?)```", part, re.S)
    assert shell and python, "the README's webhook check is missing"
    return shell.group(1), python.group(1)


def test_the_readme_webhook_checks_accept_the_brokers_signature_only(tmp_path: Path):
    shell, python = readme_verify_blocks()
    namespace: dict = {}
    exec(compile(python, "README.md", "exec"), namespace)  # our own README, as written
    body = b'{"id":"evt_1","type":"login.claimed","created":1,"data":{}}'
    now = int(time.time())
    good = signature(WEBHOOK_SECRET, now, body)
    checks = [(good, body, True), (good, body + b" ", False),
              (signature(WEBHOOK_SECRET, now - 600, body), body, False),
              (signature("another-secret-0123456789", now, body), body, False)]
    for header, sent, verified in checks:
        assert namespace["verify"](WEBHOOK_SECRET, header, sent) is verified
        (tmp_path / "body.json").write_bytes(sent)
        ran = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True,
                             text=True, timeout=30, env={"PATH": "/usr/bin:/bin",
                             "SIGNATURE": header, "VF_WEBHOOK_SECRET": WEBHOOK_SECRET})
        assert (ran.stdout.strip() == "verified") is verified, (header, ran.stdout, ran.stderr)
