#!/usr/bin/env python3
"""Record what a real Claude Code CLI prints in one scenario (a test tool).

    record_cli.py CLI COLS OUT_PREFIX SCENARIO

writes OUT_PREFIX.raw (the bytes), .escaped.txt (one line per CLI line, escapes
visible) and .run.json (version, width, what was typed, timings). Scenarios:

  auth_badpaste    auth login; pastes abc, a localhost URL, 123456, abc#def
  setup_badpaste   setup-token; pastes abc (Enter again if it asks), then abc#def
  auth_success     auth login; plays the browser against tests/support/fake_oauth/
  setup_success    setup-token; the same, so the token is printed at COLS columns

Run it ONLY inside a namespace without internet: ``unshare --net -- …`` for the
bad-paste scenarios (every name lookup fails), ``tests/netns_run.sh -- …`` for the
success ones (the sign-in hosts are the fake server on 127.0.0.1; it sets
FAKE_OAUTH_CA). Codes and tokens in the transcripts come from the fake server
or are made up; none is a real credential.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pexpect

from vaporforge import cli_output

BAD_PASTES = ["abc", "https://localhost:1234/callback?code=x", "123456", "abc#def"]


class Recorder:
    def __init__(self, cli: str, args: list[str], cols: int) -> None:
        self.home = tempfile.mkdtemp(prefix="record-cli-")
        env = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "HOME": self.home,
               "PATH": "/usr/bin:/bin", "CLAUDE_CODE_FULL_SIGN_IN_LINK": "1",
               "BROWSER": "true", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        for name in ("NODE_EXTRA_CA_CERTS",):
            if name in os.environ:
                env[name] = os.environ[name]
        self.t0 = time.monotonic()
        self.child = pexpect.spawn(cli, args, env=env, dimensions=(50, cols))
        self.out = b""
        # (seconds since spawn, what happened, bytes of output before it)
        self.steps: list[tuple[float, str, int]] = []

    def text(self) -> str:
        return cli_output.screen_text(self.out.decode("utf-8", "replace"))

    def read(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.out += self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return False
        return True

    def wait(self, words: str, after: int = 0, seconds: float = 10) -> bool:
        end = time.monotonic() + seconds
        while words not in self.text()[after:]:
            if time.monotonic() > end or not self.read(0.05):
                return words in self.text()[after:]
        self.steps.append((round(time.monotonic() - self.t0, 3), f"saw {words!r}",
                           len(self.out)))
        return True

    def send(self, data: str, shown: str) -> None:
        self.steps.append((round(time.monotonic() - self.t0, 3), f"typed {shown}",
                           len(self.out)))
        self.child.send(data)

    def paste(self, code: str, shown: str, quiet: float = 1.5) -> None:
        """The code alone, then Enter once its tail is on screen (as the driver does)."""
        mark = len(self.text())
        self.send(code, shown)
        self.wait(code[-4:], mark, 2)
        self.send("\r", "Enter")
        self.read(quiet)


def browse(url: str) -> str:
    """The user's browser: open the sign-in URL on the fake server, read the paste."""
    parts = urlsplit(url)
    ctx = ssl.create_default_context(cafile=os.environ["FAKE_OAUTH_CA"])
    with (socket.create_connection(("127.0.0.1", 443), timeout=10) as raw,
          ctx.wrap_socket(raw, server_hostname=parts.hostname) as tls):
        tls.sendall(f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}"
                    "\r\nConnection: close\r\n\r\n".encode())
        data = b"".join(iter(lambda: tls.recv(65536), b""))
    return json.loads(data.split(b"\r\n\r\n", 1)[1])["paste"]


def run(rec: Recorder, scenario: str) -> str:
    """Play ``scenario``; returns the fake server's code#state it pasted, if any."""
    rec.wait("Paste code here if prompted")
    rec.read(0.5)  # let the TUI draw its input line
    if scenario == "auth_badpaste":
        for code in BAD_PASTES:
            rec.paste(code, repr(code), quiet=2.0)
    elif scenario == "setup_badpaste":
        rec.paste("abc", "'abc'")
        if "Enter to retry" in rec.text():
            rec.send("\r", "Enter")
            rec.read(2.0)
        rec.paste("abc#def", "'abc#def'", quiet=2.0)
    elif scenario in ("auth_success", "setup_success"):
        url, _ = cli_output.sign_in_url(rec.out.decode("utf-8", "replace"))
        assert url, "no full sign-in URL"
        paste = browse(url)
        rec.paste(paste, "<code#state from the fake server>", quiet=3.0)
        rec.read(1.0)
        return paste
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    rec.read(1.0)
    return ""


def escaped(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    visible = text.encode("unicode_escape").decode("ascii")
    visible = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), visible)
    visible = re.sub(r"\\x([89a-f][0-9a-f])", lambda m: chr(int(m.group(1), 16)), visible)
    return visible.replace("\\n", "\\n\n")


def main(argv: list[str]) -> int:
    cli, cols, prefix, scenario = argv[0], int(argv[1]), Path(argv[2]), argv[3]
    args = ["setup-token"] if scenario.startswith("setup") else ["auth", "login"]
    version = pexpect.run(f"{cli} --version").decode().strip()
    rec = Recorder(cli, args, cols)
    try:
        paste = run(rec, scenario)
    finally:
        rec.child.close(force=True)
    Path(f"{prefix}.raw").write_bytes(rec.out)
    Path(f"{prefix}.escaped.txt").write_text(escaped(rec.out))
    Path(f"{prefix}.run.json").write_text(json.dumps({
        "version": version, "argv": ["claude", *args], "scenario": scenario, "cols": cols,
        "rows": 50, "namespace": "no internet (see tests/record_cli.py)",
        "exitstatus": rec.child.exitstatus, "steps": rec.steps,
        # the fake server's code (not a credential): its tokens are tokens_for_code(paste)
        **({"paste": paste} if paste else {})}, indent=1) + "\n")
    print(f"{prefix}: {version}, {len(rec.out)} bytes, exit {rec.child.exitstatus}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
