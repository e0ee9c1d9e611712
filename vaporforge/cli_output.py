"""Reading the official CLI's terminal output (pure; see shared FACTS.md).

The OSC 8 hyperlink target is the only source of the sign-in URL: the visible
text can be cut or wrapped by the terminal, so it is never joined by guesswork.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from vaporforge.states import LoginMode

ALLOWED_HOSTS = frozenset({"claude.ai", "claude.com", "platform.claude.com"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})

# OSC 8: ESC ] 8 ; params ; URI (BEL | ESC \)
_OSC8 = re.compile(r"\x1b\]8;([^;\x07\x1b]*);([^\x07\x1b]*)(?:\x07|\x1b\\)")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# Cursor moves that stand in for spaces between words in the TUI.
_CURSOR_GAP = re.compile(r"\x1b\[\d*[GC]")
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_OTHER_ESC = re.compile(r"\x1b[78=>c]|\x1b[()][0-9A-Za-z]")

AUTH_PROMPT = "Paste code here if prompted >"
TUI_PROMPT = "Paste code here if prompted"
TUI_BOX_BOTTOM = "╰"
SIGNING_IN = "Signing in…"
LOGIN_SUCCESSFUL = "Login successful"
TOKEN_CREATED = "Long-lived authentication token created"
TOKEN_STORE_HINT = "Store this token securely"

_TOKEN = re.compile(r"sk-ant-oat01-[A-Za-z0-9_\-]+")
_COULDNT = re.compile(r"Couldn't log in: ([^\r\n]*)")
_LOGIN_FAILED = re.compile(r"Login failed: ([^\r\n]*)")
_OAUTH_ERROR = re.compile(r"OAuth error: ([^\r\n]*)")
_START_ERROR = re.compile(r"Claude Code could not start: ([^\r\n]*)")


def osc8_targets(raw: str) -> list[str]:
    """Every non-empty OSC 8 target in ``raw``, in order, without repeats."""
    seen: list[str] = []
    for match in _OSC8.finditer(raw):
        target = match.group(2)
        if target and target not in seen:
            seen.append(target)
    return seen


def screen_text(raw: str) -> str:
    """``raw`` with escape sequences removed; cursor gaps become single spaces."""
    text = _OSC.sub("", raw)
    text = _CURSOR_GAP.sub(" ", text)
    text = _CSI.sub("", text)
    text = _OTHER_ESC.sub("", text)
    return text.replace("\x1b", "")


def url_problem(url: str, extra_hosts: frozenset[str] = frozenset()) -> str | None:
    """Why ``url`` must not be shown to a remote user, or None when it is fine.

    ``extra_hosts`` adds sign-in hosts beyond Claude's own (for a deployment whose
    CLI is pointed at an approved CLAUDE_CODE_CUSTOM_OAUTH_URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme != "https":
        return "not https"
    host = (parts.hostname or "").lower()
    known = host in ALLOWED_HOSTS or host in extra_hosts
    if not known or parts.port not in (None, 443) or parts.username:
        return "not a Claude sign-in host"
    if not parts.path.endswith("/oauth/authorize"):
        return "not an /oauth/authorize address"
    redirects = parse_qs(parts.query).get("redirect_uri", [])
    if len(redirects) != 1:
        return "no redirect_uri (a short sign-in link)"
    redirect_host = (urlsplit(redirects[0]).hostname or "").lower()
    if not redirect_host or redirect_host in LOCAL_HOSTS or redirect_host.endswith(
            ".localhost"):
        return "its redirect_uri points at this machine"
    return None


def sign_in_url(raw: str, extra_hosts: frozenset[str] = frozenset()
                ) -> tuple[str | None, list[str]]:
    """The first acceptable OSC 8 target and the reasons the others were refused."""
    refused: list[str] = []
    for target in osc8_targets(raw):
        problem = url_problem(target, extra_hosts)
        if problem is None:
            return target, refused
        refused.append(problem)
    return None, refused


def prompt_ready(raw: str, mode: LoginMode) -> bool:
    """True once the CLI can take a pasted code without losing a keystroke."""
    text = screen_text(raw)
    if mode is LoginMode.SETUP_TOKEN:
        at = text.rfind(TUI_PROMPT)
        return at >= 0 and TUI_BOX_BOTTOM in text[at:]
    return AUTH_PROMPT in text


def prompt_shown(raw: str, mode: LoginMode) -> bool:
    """The prompt's words are on screen (the TUI's input box may still be coming)."""
    return (TUI_PROMPT if mode is LoginMode.SETUP_TOKEN else AUTH_PROMPT) in screen_text(raw)


@dataclass(frozen=True)
class Rejected:
    """The CLI refused the pasted text and asks again; ``sentence`` is its own."""
    sentence: str


@dataclass(frozen=True)
class Failed:
    """The CLI tried the code and failed; ``reason`` is its own words, ``line`` the
    whole sentence it showed (``Couldn't log in: …``, ``OAuth error: …``)."""
    reason: str
    line: str = ""

    def __post_init__(self) -> None:
        if not self.line:
            object.__setattr__(self, "line", f"Couldn't log in: {self.reason}")


@dataclass(frozen=True)
class TokenPrinted:
    """``setup-token`` printed its long-lived token."""
    token: str


@dataclass(frozen=True)
class LoggedIn:
    """``auth login`` said ``Login successful.``; the credentials file is next."""


Answer = Rejected | Failed | TokenPrinted | LoggedIn


def _last_sentence(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line and not line.startswith(TUI_PROMPT)]
    return lines[-1] if lines else "The CLI asked for the code again."


def classify_answer(raw: str, mode: LoginMode) -> Answer | None:
    """Read the CLI's output since a code was typed (echo included).

    Returns None while the answer is not complete yet.
    """
    text = screen_text(raw)
    for pattern in (_COULDNT, _LOGIN_FAILED, _OAUTH_ERROR, _START_ERROR):
        found = pattern.search(text)
        if found:
            reason = found.group(1).split("Press Enter to retry")[0].strip()
            reason = reason or "The CLI gave no reason."
            label = found.group(0).split(":", 1)[0]
            return Failed(reason, f"{label}: {reason}")
    if mode is LoginMode.SETUP_TOKEN:
        token = _TOKEN.search(text)
        if token and TOKEN_STORE_HINT in text[token.end():]:
            return TokenPrinted(token.group(0))
        return None
    # auth login: the echo line ends at the first newline; a fresh prompt after
    # it means the CLI refused the text and wants another paste.
    _, _, after_echo = text.partition("\n")
    at = after_echo.find(AUTH_PROMPT)
    if at >= 0 and SIGNING_IN not in after_echo[:at]:
        return Rejected(_last_sentence(after_echo[:at]))
    if SIGNING_IN in after_echo and LOGIN_SUCCESSFUL in after_echo:
        return LoggedIn()
    return None


def last_words(raw: str, limit: int = 300) -> str:
    """The CLI's last non-empty line, for an error message when it exits."""
    lines = [line.strip() for line in screen_text(raw).replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    return lines[-1][:limit] if lines else ""
