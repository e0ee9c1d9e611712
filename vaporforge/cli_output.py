"""Reading the official CLI's terminal output (pure; see shared FACTS.md).

The OSC 8 hyperlink target is the only source of the sign-in URL: the visible
text can be cut or wrapped by the terminal, so it is never joined by guesswork.
What the CLI's sentences are is data (:mod:`vaporforge.cli_wording`, one row per
range of releases); this module only knows how to look for them. A setup-token
token is read from a screen model (:mod:`vaporforge.screen`), whole or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from vaporforge.cli_wording import ANY, Wording
from vaporforge.screen import Screen
from vaporforge.session.states import LoginMode

ALLOWED_HOSTS = frozenset({"claude.ai", "claude.com", "platform.claude.com"})
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})

# OSC 8: ESC ] 8 ; params ; URI (BEL | ESC \)
_OSC8 = re.compile(r"\x1b\]8;([^;\x07\x1b]*);([^\x07\x1b]*)(?:\x07|\x1b\\)")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
# Cursor moves that stand in for spaces between words in the TUI.
_CURSOR_GAP = re.compile(r"\x1b\[\d*[GC]")
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_OTHER_ESC = re.compile(r"\x1b[78=>c]|\x1b[()][0-9A-Za-z]")

AUTH_PROMPT = "Paste code here if prompted >"  # the pinned release's (tests split on it)
SIGNING_IN = "Signing in…"
# A whole setup-token token, and anything that starts like one.
_TOKEN = re.compile(r"sk-ant-oat01-[A-Za-z0-9_\-]+")
_TOKEN_START = "sk-ant-"
TOKEN_UNREADABLE = ("The CLI printed a token that could not be read whole, so none of it "
                    "was kept. Start a new login.")


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


def _flat(text: str) -> str:
    """``text`` with every run of whitespace as one space (wrapped lines join up)."""
    return " ".join(text.split())


def prompt_ready(raw: str, mode: LoginMode, wording: Wording = ANY) -> bool:
    """True once the CLI can take a pasted code without losing a keystroke."""
    text = _flat(screen_text(raw))
    if mode is LoginMode.SETUP_TOKEN:
        for prompt, then in wording.tui_ready:
            at = text.rfind(prompt)
            if at >= 0 and then in text[at + len(prompt):]:
                return True
        return False
    return any(prompt in text for prompt in wording.auth_prompts)


def prompt_shown(raw: str, mode: LoginMode, wording: Wording = ANY) -> bool:
    """The prompt's words are on screen (the TUI's input box may still be coming)."""
    text = _flat(screen_text(raw))
    prompts = ([p for p, _ in wording.tui_ready] if mode is LoginMode.SETUP_TOKEN
               else wording.auth_prompts)
    return any(prompt in text for prompt in prompts)


@dataclass(frozen=True)
class Rejected:
    """The CLI refused the pasted text and reads another; ``sentence`` is its own.

    ``enter_to_retry``: the TUI shows the refusal as an error and takes another
    paste only after Enter."""
    sentence: str
    enter_to_retry: bool = False


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
    """``setup-token`` printed its long-lived token, read whole."""
    token: str


@dataclass(frozen=True)
class LoggedIn:
    """``auth login`` said it logged in; the credentials file is next."""


Answer = Rejected | Failed | TokenPrinted | LoggedIn


def _last_sentence(text: str, prompts: tuple[str, ...]) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line and not line.startswith(prompts)]
    return lines[-1] if lines else "The CLI asked for the code again."


def classify_answer(raw: str, mode: LoginMode, wording: Wording = ANY,
                    screen: Screen | None = None) -> Answer | None:
    """Read the CLI's output since a code was typed (echo included).

    ``screen`` is the CLI's whole output so far on a screen of its PTY's size;
    setup-token's token is read there (without it, ``raw`` alone is rendered on a
    500-column screen). Returns None while the answer is not complete yet.
    """
    text = screen_text(raw)
    flat = _flat(text)
    for sentence in wording.refusals:
        if sentence.rstrip(".") in flat:
            if mode is LoginMode.SETUP_TOKEN and sentence in wording.enter_after:
                if not any(hint in flat for hint in wording.retry_hints):
                    return None  # the retry hint is still coming
                return Rejected(sentence, enter_to_retry=True)
            return Rejected(sentence)
    if wording.failure_labels:
        labels = "|".join(re.escape(label) for label in wording.failure_labels)
        found = re.search(rf"({labels}): ([^\r\n]*)", text)
        if found:
            reason = found.group(2)
            for hint in wording.retry_hints:
                reason = reason.split(hint)[0]
            reason = reason.strip() or "The CLI gave no reason."
            return Failed(reason, f"{found.group(1)}: {reason}")
    if mode is LoginMode.SETUP_TOKEN:
        return read_token(screen if screen is not None else Screen.of(raw), wording)
    if any(words in flat for words in wording.logged_in):
        return LoggedIn()
    # A sentence no row knows yet: the pinned release echoes the paste, then
    # answers and asks again with a fresh prompt.
    _, _, after_echo = text.partition("\n")
    for prompt in wording.auth_prompts:
        at = after_echo.find(prompt)
        if at >= 0 and SIGNING_IN not in after_echo[:at]:
            return Rejected(_last_sentence(after_echo[:at], wording.auth_prompts))
    return None


def read_token(screen: Screen, wording: Wording = ANY) -> TokenPrinted | Failed | None:
    """setup-token's token: the lines under its heading, joined.

    The token's lines are the first run of non-blank lines without spaces below
    the heading. None until the sentence under the token is drawn. A token that
    does not read as one whole, consistent credential is a :class:`Failed` whose
    message holds none of it: a claim gets the whole token or nothing. (So a
    token that exactly fills a line of the screen fails too: at the broker's 500
    columns that cannot happen.)
    """
    lines, cells = screen.lines(), screen.cells()
    heads = [i for i, line in enumerate(lines) if any(h in line for h in wording.token_headings)]
    if not heads:
        return None
    start = next((i for i in range(heads[-1] + 1, len(lines)) if lines[i].strip()), None)
    if start is None:
        return None
    end = next((i for i in range(start, len(lines)) if len(lines[i].split()) != 1), len(lines))
    if not any(words in _flat(" ".join(lines[end:])) for words in wording.token_after):
        return None  # still drawing (or the CLI said something else: the caller waits)
    block = [line.strip() for line in lines[start:end]]
    token = "".join(block)
    colours = {colour for row in cells[start:end] for char, colour in row if char.strip()}
    stray = any(colour in wording.token_colours and char.strip()
                for row in cells[heads[-1]:start] + cells[end:] for char, colour in row)
    widths = [len(line) for line in block]
    # A last line that reaches the screen's last column may go on below: unsure.
    at_edge = len(lines[end - 1]) >= screen.cols
    consistent = not at_edge and (
        _TOKEN.fullmatch(token) is not None
        and len(colours) == 1 and not stray  # one run of cells, nothing of it elsewhere
        # a wrapped token fills each line but its last to the same width
        and all(width == widths[0] for width in widths[:-1]) and widths[-1] <= widths[0]
        and _export_token(lines, wording) in (None, token))
    return TokenPrinted(token) if consistent else Failed(TOKEN_UNREADABLE, TOKEN_UNREADABLE)


def _export_token(lines: list[str], wording: Wording) -> str | None:
    """The token in ``export CLAUDE_CODE_OAUTH_TOKEN=…`` (joined when wrapped), or
    None when that line shows a placeholder (2.1.250–2.1.332 print ``<token>``)."""
    for i, line in enumerate(lines):
        for label in wording.export_labels:
            if label in line:
                rest = [line.split(label, 1)[1].strip()]
                for more in lines[i + 1:]:
                    if not more.strip():
                        break
                    rest.append(more.strip())
                value = "".join(rest)
                return value if value.startswith(_TOKEN_START) else None
    return None


def last_words(raw: str, limit: int = 300) -> str:
    """The CLI's last non-empty line, for an error message when it exits."""
    lines = [line.strip() for line in screen_text(raw).replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    return lines[-1][:limit] if lines else ""
