"""What the official CLI says, per range of releases: data, not code (pure).

The CLI ships weekly and rewords freely. Each :class:`Wording` row holds the
sentences one range of releases prints; :mod:`vaporforge.cli_output` reads the
output with whichever row :func:`for_version` picks from ``claude --version``.
A release that only rewords is one new row here (observed first with
tests/record_cli.py and ``make cli-drift``; see docs/CLI-FINDINGS.md).
A version no row covers (or an unknown one) is read with :data:`ANY`, every
row's sentences at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

Version = tuple[int, ...]


@dataclass(frozen=True)
class Wording:
    """One range of CLI releases, ``first`` up to (not including) ``until``.

    Every field but the range is a tuple of alternatives, so rows can be merged.
    Matching ignores runs of whitespace, so a sentence the TUI wraps or draws
    with cursor moves still matches."""

    first: Version
    until: Version | None
    # `auth login`: the line prompt (the CLI may redraw it after a refused paste).
    auth_prompts: tuple[str, ...] = ("Paste code here if prompted >",)
    # `setup-token`: (prompt words, what follows them once input is possible;
    # "" when the prompt itself is the last thing drawn).
    tui_ready: tuple[tuple[str, str], ...] = ()
    # The CLI refused the pasted text (no exchange happened); a further paste is read.
    refusals: tuple[str, ...] = ()
    # Refusals after which `setup-token` waits for Enter (and shows a retry hint)
    # before it takes another paste.
    enter_after: tuple[str, ...] = ()
    retry_hints: tuple[str, ...] = ("Press Enter to retry",)
    # Labels of lines that say the login failed: "<label>: <reason>".
    failure_labels: tuple[str, ...] = ()
    # `auth login` finished (the credentials file is next).
    logged_in: tuple[str, ...] = ("Login successful",)
    # `setup-token`: the heading above the token and the sentence below it.
    token_headings: tuple[str, ...] = ("Your OAuth token",)
    token_after: tuple[str, ...] = ("Store this token securely",)
    # The foreground colour the token is drawn in (Screen colour notation).
    token_colours: tuple[str, ...] = ("38;5;220",)
    # `export CLAUDE_CODE_OAUTH_TOKEN=…` line; 2.1.250–2.1.332 print "<token>" there.
    export_labels: tuple[str, ...] = ("CLAUDE_CODE_OAUTH_TOKEN=",)

    def covers(self, version: Version) -> bool:
        return version >= self.first and (self.until is None or version < self.until)


_COMMON_FAILURES = ("Claude Code could not start",)

ROWS: tuple[Wording, ...] = (
    # Observed on 2.1.250, 2.1.300, 2.1.316, 2.1.325 (`make cli-drift` passes on
    # 2.1.240 too). No echo of the paste, no prompt after a refusal; setup-token
    # has a "prompted >" line and no box.
    Wording(
        first=(2, 1, 240), until=(2, 1, 326),
        tui_ready=(("Paste code here if prompted >", ""),),
        refusals=("Invalid code. Please make sure the full code was copied.",),
        enter_after=("Invalid code. Please make sure the full code was copied.",),
        failure_labels=("Login failed", "OAuth error", *_COMMON_FAILURES),
    ),
    # Observed on 2.1.326, 2.1.327, 2.1.329, 2.1.332 (the pin). The paste is
    # echoed and the prompt redrawn after a refusal; setup-token draws a boxed
    # input and shows refusals under it, without "Press Enter".
    Wording(
        first=(2, 1, 326), until=None,
        tui_ready=(("Paste code here if prompted", "╰"),),
        refusals=(
            "That doesn't look like the full code. Copy all of it, including the # in the "
            "middle.",
            "That address only works in a browser on this machine. Open the sign-in address "
            "shown above instead, and paste the code its last page shows.",
            "That looks like a verification code. Enter it in your browser, on the page that "
            "asks for it. If a page then shows a longer code, paste it here.",
        ),
        failure_labels=("Couldn't log in", "OAuth error", *_COMMON_FAILURES),
    ),
)


def _merge(rows: tuple[Wording, ...]) -> Wording:
    merged: dict[str, object] = {"first": (0,), "until": None}
    for f in fields(Wording):
        if f.name not in merged:
            seen: list[object] = []
            for row in rows:
                seen += [v for v in getattr(row, f.name) if v not in seen]
            merged[f.name] = tuple(seen)
    return Wording(**merged)  # type: ignore[arg-type]


ANY: Wording = _merge(ROWS)
"""Every known sentence: for a CLI whose version no row covers."""

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str | None) -> Version | None:
    """``"2.1.332 (Claude Code)"`` -> (2, 1, 332); None when there is no version."""
    found = _VERSION.search(text or "")
    return tuple(int(part) for part in found.groups()) if found else None


def for_version(text: str | None) -> Wording:
    """The row for ``claude --version``'s output, or :data:`ANY`."""
    version = parse_version(text)
    if version is not None:
        for row in ROWS:
            if row.covers(version):
                return row
    return ANY
