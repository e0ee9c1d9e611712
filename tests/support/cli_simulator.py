#!/usr/bin/env python3
"""A stand-in for the official Claude Code CLI's login commands (tests only).

It reproduces what ../shared/claude-cli/FACTS.md and docs/CLI-FINDINGS.md record
of 2.1.332, byte for byte where a driver depends on it: the OSC 8 link, the
prompts, the three re-prompt sentences (under the setup-token box there),
``Signing in…``, ``Couldn't log in: …``, the setup-token TUI with its
cursor-move word gaps, masked input, lost early input and ignored Enter after a
long one-write paste, the token in colour 38;5;220 (hard-wrapped at ``--wrap``
columns like the URL), and ``.credentials.json`` written (mode 0600) for a code
it accepts.

A well-formed code (``left#right``) succeeds unless it contains ``fail``; the
tokens it yields are derived from the code (see :func:`tokens_for`) so a test
can predict them. Switches go before the CLI's own arguments:

    cli_simulator.py [--slow-start S] [--crash-before-url] [--short-url]
                     [--localhost-url] [--wrap COLS] [--never-answer]
                     [--slow-answer S] [--ascii-box] [--stamp-codes] auth login

``--stamp-codes`` (benchmarks) appends the wall-clock time each pasted line is
received to ``$HOME/code-received`` (``auth login`` only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import select
import sys
import termios
import time
import tty
from urllib.parse import quote, quote_plus

VERSION = "2.1.332"
CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
SCOPES_LOGIN = ("org:create_api_key user:profile user:inference user:sessions:claude_code "
                "user:mcp_servers user:file_upload user:plugins user:privacy_consents:write "
                "org:desktop_config")
FULL_CODE = "That doesn't look like the full code. Copy all of it, including the # in the middle."
LOCALHOST = ("That address only works in a browser on this machine. Open the sign-in address "
             "shown above instead, and paste the code its last page shows.")
VERIFICATION = ("That looks like a verification code. Enter it in your browser, on the page that "
                "asks for it. If a page then shows a longer code, paste it here.")
ENOTFOUND = "getaddrinfo ENOTFOUND platform.claude.com"
TUI_ENOTFOUND = ("Couldn't get an answer from the sign-in service (ENOTFOUND). Check your "
                 "internet connection, then try again.")


def tokens_for(code: str) -> dict[str, str]:
    digest = hashlib.sha256(code.encode()).hexdigest()
    return {"access": f"sk-ant-oat01-{digest}{digest[:31]}",
            "refresh": f"sk-ant-ort01-{digest[::-1]}{digest[:31]}"}


def b64(n: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")


def sign_in_url(args: argparse.Namespace, scope: str, host: str) -> str:
    if args.short_url:
        return f"https://{host}/oauth/authorize?z-{b64(32)}"
    redirect = ("http://localhost:45454/callback" if args.localhost_url
                else "https://platform.claude.com/oauth/code/callback")
    base = ("https://platform.claude.com/oauth/authorize" if host == "platform.claude.com"
            else "https://claude.com/cai/oauth/authorize")
    return (f"{base}?code=true&client_id={CLIENT_ID}&response_type=code"
            f"&redirect_uri={quote(redirect, safe='')}&scope={quote_plus(scope)}"
            f"&code_challenge={b64(32)}&code_challenge_method=S256&state={b64(32)}")


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def read_line(echo_suffix: str, masked: bool = False) -> str | None:
    """One pasted line in raw mode, echoed the way the CLI echoes it; None on Ctrl-D.

    ``masked`` (the setup-token box): the line is redrawn with all but its last six
    characters as ``*``, and one write of 64 bytes or more is a paste whose Enter
    is ignored, as the real TUI does."""
    buf = ""
    while True:
        chunk = os.read(0, 4096).decode("utf-8", "replace")
        if masked and len(chunk) >= 64:
            chunk = chunk.replace("\r", "").replace("\n", "")
        for ch in chunk:
            if ch in ("\r", "\n"):
                out(echo_suffix)
                return buf
            if ch == "\x04" and not buf:
                return None
            buf += ch
            out(ch if not masked else "")
        if masked:
            out("\r\x1b[3C" + "*" * max(len(buf) - 6, 0) + buf[-6:])


def reprompt_for(code: str) -> str | None:
    text = code.strip()
    if "://localhost" in text or "://127.0.0.1" in text:
        return LOCALHOST
    if text.isdigit() and len(text) == 6:
        return VERIFICATION
    if "#" not in text or text.startswith("#") or text.endswith("#"):
        return FULL_CODE
    return None


def write_credentials(code: str, scopes: str) -> None:
    tokens = tokens_for(code)
    folder = os.environ.get("CLAUDE_CONFIG_DIR") or os.path.join(os.environ["HOME"], ".claude")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, ".credentials.json")
    body = {"claudeAiOauth": {
        "accessToken": tokens["access"], "refreshToken": tokens["refresh"],
        "expiresAt": int(time.time() * 1000) + 8 * 3600 * 1000,
        "refreshTokenExpiresAt": int(time.time() * 1000) + 30 * 86400 * 1000,
        "scopes": scopes.split(), "subscriptionType": "max",
        "rateLimitTier": "default_claude_max_5x",
        "clientId": CLIENT_ID, "accountUuid": "00000000-0000-4000-8000-000000000001",
        "organizationUuid": "00000000-0000-4000-8000-000000000002"}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh)


def link(url: str, visible: str, link_id: str = "") -> str:
    params = f"id={link_id}" if link_id else ""
    return f"\x1b]8;{params};{url}\x07\x1b[94m{visible}\x1b[39m\x1b]8;;\x07"


def auth_login(args: argparse.Namespace, console: bool) -> int:
    host = "platform.claude.com" if console else "claude.ai"
    url = sign_in_url(args, SCOPES_LOGIN, host)
    out("Opening browser to sign in…\r\n")
    out("If the browser didn't open, visit:\r\n")
    if args.wrap:
        pieces = [url[i:i + args.wrap] for i in range(0, len(url), args.wrap)]
        out("\r\n".join(link(url, piece) for piece in pieces) + "\r\n")
    else:
        out(link(url, url) + "\r\n")
    while True:
        out("Paste code here if prompted > ")
        code = read_line("\r\r\n")
        if args.stamp_codes:
            with open(os.path.join(os.environ["HOME"], "code-received"), "a") as fh:
                fh.write(f"{time.time():.6f}\n")
        if code is None:
            out("\r\nCouldn't log in: Input ended before a code was pasted. "
                "Sign in again and paste the code shown.\r\n\x1b[?25h")
            return 130
        sentence = reprompt_for(code)
        if sentence:
            out(sentence + "\r\n")
            continue
        out("Signing in…\r\n")
        if args.never_answer:
            while True:
                time.sleep(3600)
        time.sleep(args.slow_answer)
        if "fail" in code:
            out(f"Couldn't log in: {ENOTFOUND}\r\n\x1b[?25h")
            return 1
        write_credentials(code, SCOPES_LOGIN)
        out("Login successful.\r\n\x1b[?25h")
        return 0


def gapped(words: str, col: int = 2) -> str:
    """Words joined by cursor moves, as the Ink TUI draws them."""
    parts = []
    for word in words.split(" "):
        parts.append(f"\x1b[{col}G{word}")
        col += len(word) + 1
    return "".join(parts)


def setup_token(args: argparse.Namespace, cols: int) -> int:
    url = sign_in_url(args, "user:inference", "claude.ai")
    link_id = b64(4).lower()[:6]
    out("\x1b7\x1b[r\x1b8\x1b[?25h\x1b[?25l\x1b[?2004h\x1b[?2031h\x1b[?1004h")
    out(f"\x1b[38;5;174mWelcome\x1b[9Gto\x1b[12GClaude\x1b[19GCode\x1b[24G\x1b[38;5;246mv{VERSION}"
        "\x1b[39m\r\r\n" + "." * 58 + "\r\r\n\r\r\n")
    out(gapped("This will guide you through long-lived (1-year) auth token setup for your "
               "Claude account. Claude subscription required.") + "\r\r\n\r\r\n")
    while True:
        out("\x1b]11;?\x07\x1b[c" + gapped("Browser didn't open? Use the URL below to sign in")
            + "\x1b[52G\x1b[38;5;246m(c\x1b[55Gto\x1b[58Gcopy)\x1b[39m\r\r\n\r\r\n")
        width = args.wrap or cols
        for i in range(0, len(url), width):
            out(f"\x1b]8;id={link_id};{url}\x07\x1b[38;5;246m{url[i:i + width]}"
                "\x1b[39m\x1b]8;;\x07\r\r\n")
        out("\r\r\n" + gapped("Paste code here if prompted") + "\r\r\n")
        time.sleep(0.15)  # the TUI enables raw input only after drawing the box
        if select.select([0], [], [], 0)[0]:
            os.read(0, 65536)  # typed too early: the whole input is lost, as observed
        inner = max(cols - 3, 10)
        top, side, bottom, line = ("++", "|", "++", "-") if args.ascii_box else (
            "╭╮", "│", "╰╯", "─")
        out(f"\x1b[2G\x1b[38;5;153m{top[0]}{line * (inner - 2)}{top[1]}\x1b[39m\r\r\n")
        out(f"\x1b[2G\x1b[38;5;153m{side}\x1b[4G\x1b[39m\x1b[7m \x1b[{cols}G\x1b[27m"
            f"\x1b[38;5;153m{side}\x1b[39m\r\r\n")
        out(f"\x1b[2G\x1b[38;5;153m{bottom[0]}{line * (inner - 2)}{bottom[1]}\x1b[39m\r\r\n")
        out("\x1b[3C\x1b[2A\x1b[>0q\x1b[?u\x1b]7501;?\x07\x1b[c")
        while True:
            code = read_line("\x1b[7m \x1b[27m\r\r\n\r\n", masked=True)
            sentence = reprompt_for(code) if code is not None else ""
            if not sentence:
                break
            # A refused paste: the sentence under the box, in two lines; the box
            # stays and takes the next paste (no Enter needed), as 2.1.332 does.
            first, _, rest = sentence.partition(". ")
            out(f"\r\x1b[1C\x1b[1B✘\x1b[4G{first}{'.' if rest else ''}\x1b[K\r\x1b[1C\x1b[1B  "
                f"\x1b[38;5;246m{rest}\x1b[39m\x1b[K\r\r\n\x1b[3C\x1b[4A")
        if code is None:
            continue
        if args.never_answer:
            while True:
                time.sleep(3600)
        if "fail" in code:
            out("\x1b[2K\x1b[1A\x1b[2K\x1b[G\x1b[1A\r\x1b[1C\x1b[3A\x1b[38;5;211m✘\x1b[39m "
                f"\x1b[38;5;211mOAuth error: {TUI_ENOTFOUND}\r\x1b[2B\x1b[39m \x1b[38;5;153mPress "
                "\x1b[1mEnter\x1b[22m to retry\x1b[39m\x1b[K\r\x1b[1B\x1b[K\r\x1b[4A")
            if read_line("") is None:
                return 0
            url = sign_in_url(args, "user:inference", "claude.ai")
            continue
        token = tokens_for(code)["access"]
        # The token in its own colour from column 2; at a narrow width (--wrap) it
        # goes on over more lines, each in the same colour, as the CLI does.
        width = (args.wrap or cols) - 1
        lines = "".join(f"\x1b[2G\x1b[38;5;220m{token[i:i + width]}\x1b[39m\r\r\n"
                        for i in range(0, len(token), width))
        out("\x1b[2K\x1b[G\x1b[1A\r\n" + gapped("✔ Long-lived authentication token created")
            + "\r\r\n\r\r\n" + gapped("Your OAuth token (valid for 1 year):") + "\r\r\n\r\r\n"
            + lines + "\r\r\n"
            + gapped("Store this token securely. You won't be able to see it again.")
            + "\r\r\n\r\r\n" + gapped("Use this token by setting: export "
                                       "CLAUDE_CODE_OAUTH_TOKEN=<token>") + "\r\r\n\x1b[?25h")
        time.sleep(0.5)
        return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("--crash-before-url", action="store_true")
    parser.add_argument("--short-url", action="store_true")
    parser.add_argument("--localhost-url", action="store_true")
    parser.add_argument("--wrap", type=int, default=0)
    parser.add_argument("--never-answer", action="store_true")
    parser.add_argument("--slow-answer", type=float, default=0.05)
    parser.add_argument("--ascii-box", action="store_true")
    parser.add_argument("--stamp-codes", action="store_true")
    parser.add_argument("--version", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.version:
        out(f"{VERSION} (Claude Code)\n")
        return 0
    time.sleep(args.slow_start)
    if args.crash_before_url:
        out("Opening browser to sign in…\r\n")
        sys.stderr.write("Error: simulated crash before the sign-in URL\n")
        return 1
    interactive = os.isatty(0)
    saved = termios.tcgetattr(0) if interactive else None
    if interactive:
        tty.setraw(0)
    try:
        if rest[:2] == ["auth", "login"]:
            return auth_login(args, console="--console" in rest[2:])
        if rest[:1] == ["setup-token"]:
            cols = os.get_terminal_size(1).columns if os.isatty(1) else 200
            return setup_token(args, cols)
        if rest[:1] == ["login"]:
            sys.stderr.write('"login" isn\'t a Claude Code command … run claude auth login\n')
            return 1
        sys.stderr.write(f"unknown command: {' '.join(rest)}\n")
        return 1
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
