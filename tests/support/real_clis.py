"""The real Claude Code CLIs the ``realcli`` tests drive, and what each release says.

``VF_REAL_CLI`` names one CLI executable or several, separated by ``:`` (scripts/test.sh
passes every release in tests/cli-versions.txt; ``make cli-drift`` passes one). The
sentences below are facts recorded from the real CLIs (docs/CLI-FINDINGS.md), kept
apart from vaporforge/cli_wording.py on purpose: a release that says something else
fails these tests, which is how drift shows.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

OLD_REFUSAL = "Invalid code. Please make sure the full code was copied."
PINNED_REFUSALS = {
    "abc": "That doesn't look like the full code. Copy all of it, including the # in the "
           "middle.",
    "https://localhost:1234/callback?code=x": "That address only works in a browser on this "
    "machine. Open the sign-in address shown above instead, and paste the code its last page "
    "shows.",
    "123456": "That looks like a verification code. Enter it in your browser, on the page that "
              "asks for it. If a page then shows a longer code, paste it here.",
}
# The release from which the CLI says what 2.1.332 says (2.1.325 still did not).
PINNED_WORDING_FROM = (2, 1, 326)


@dataclass(frozen=True)
class RealCli:
    path: str
    version: tuple[int, ...]

    @property
    def name(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def older(self) -> bool:
        """A release before the pinned wording (2.1.250–2.1.325)."""
        return self.version < PINNED_WORDING_FROM

    def refusals(self) -> dict[str, str]:
        """Pasted text -> the sentence the CLI refuses it with."""
        return dict.fromkeys(PINNED_REFUSALS, OLD_REFUSAL) if self.older else PINNED_REFUSALS

    @property
    def failure_label(self) -> str:
        """How ``auth login`` starts the line that says the exchange failed."""
        return "Login failed: " if self.older else "Couldn't log in: "

    @property
    def setup_token_offline(self) -> str:
        """How setup-token's failure starts when no name resolves."""
        return ("OAuth error: getaddrinfo " if self.older else
                "OAuth error: Couldn't get an answer from the sign-in service")


def real_clis() -> list[RealCli]:
    found = []
    for path in filter(None, os.environ.get("VF_REAL_CLI", "").split(":")):
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
        assert match, f"{path} --version said {out!r}"
        found.append(RealCli(path, tuple(int(part) for part in match.groups())))
    return found


def pinned_version() -> tuple[int, ...]:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "CLAUDE_CODE_VERSION")) as fh:
        return tuple(int(part) for part in fh.read().strip().split("."))
