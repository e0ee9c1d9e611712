"""CLI output parsing, against the recorded transcripts of the real CLI.

``tests/transcripts/*.raw`` are 2.1.332's from ../shared; ``tests/transcripts/<version>/``
are made with tests/record_cli.py (see docs/CLI-FINDINGS.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_oauth import tokens_for_code
from vaporforge import cli_output, cli_wording
from vaporforge.cli_output import Failed, LoggedIn, Rejected, TokenPrinted
from vaporforge.screen import Screen
from vaporforge.session.states import LoginMode

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def raw(name: str) -> str:
    return (TRANSCRIPTS / f"{name}.raw").read_bytes().decode("utf-8", "replace")


FULL_LOGIN = ("https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-"
              "88ed-5944d1962f5e&response_type=code&redirect_uri=https%3A%2F%2Fplatform.claude."
              "com%2Foauth%2Fcode%2Fcallback&scope=org%3Acreate_api_key+user%3Aprofile+user%3A"
              "inference+user%3Asessions%3Aclaude_code+user%3Amcp_servers+user%3Afile_upload+"
              "user%3Aplugins+user%3Aprivacy_consents%3Awrite+org%3Adesktop_config&code_challen"
              "ge=2TJB7Q28VwCaMb_wp3R7qOjgU7oeVPwp-NlwsricHmg&code_challenge_method=S256&state="
              "GAZRuSaABZr-Z6eBvj6YuA65HOB8bLYm2RHspuWFAuQ")
FULL_SETUP = ("https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-"
              "88ed-5944d1962f5e&response_type=code&redirect_uri=https%3A%2F%2Fplatform.claude."
              "com%2Foauth%2Fcode%2Fcallback&scope=user%3Ainference&code_challenge=oBsynya0hNSO4y"
              "R6Nrf2uMiETTyAJ4ATRGrG1Km_ZeU&code_challenge_method=S256&state=aN10qrTK03ieiz4Scl6"
              "WIVOP4lhI_V3qBWmck_r8lUk")


@pytest.mark.parametrize(("name", "expected"), [
    ("auth_login_fulllink", FULL_LOGIN),
    ("setup_token_fulllink", FULL_SETUP),  # visible text wraps over two lines at 200 columns
])
def test_full_url_is_the_osc8_target(name, expected):
    url, refused = cli_output.sign_in_url(raw(name))
    assert url == expected
    assert refused == []


@pytest.mark.parametrize("name", ["auth_login_1", "auth_login_console", "setup_token_1",
                                  "auth_login_badpaste", "setup_token_retry"])
def test_short_links_are_refused(name):
    url, refused = cli_output.sign_in_url(raw(name))
    assert url is None
    assert refused and all("short sign-in link" in why for why in refused)


@pytest.mark.parametrize(("url", "problem"), [
    (FULL_LOGIN, None),
    (FULL_LOGIN.replace("https://claude.com/cai", "https://claude.ai"), None),
    (FULL_LOGIN.replace("https://claude.com/cai", "https://platform.claude.com"), None),
    (FULL_LOGIN.replace("https://", "http://"), "not https"),
    (FULL_LOGIN.replace("claude.com/cai", "claude.com.evil.example/cai"),
     "not a Claude sign-in host"),
    (FULL_LOGIN.replace("claude.com/cai", "evil@claude.com/cai"), "not a Claude sign-in host"),
    (FULL_LOGIN.replace("claude.com/cai", "claude.com:8443/cai"), "not a Claude sign-in host"),
    (FULL_LOGIN.replace("/oauth/authorize", "/oauth/token"), "not an /oauth/authorize address"),
    (FULL_LOGIN.replace("https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback",
                        "http%3A%2F%2Flocalhost%3A54545%2Fcallback"),
     "its redirect_uri points at this machine"),
    (FULL_LOGIN.replace("https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback",
                        "http%3A%2F%2F127.0.0.1%3A54545%2Fcallback"),
     "its redirect_uri points at this machine"),
    ("https://claude.ai/oauth/authorize?z-5r0c1WkV8xFBfWWDErGoyD2ikSbfKew7L_oy1c36rEE",
     "no redirect_uri (a short sign-in link)"),
    ("not a url at all", "not https"),
])
def test_url_problem(url, problem):
    assert cli_output.url_problem(url) == problem


def test_extra_sign_in_hosts_are_opt_in():
    fed = (FULL_LOGIN.replace("https://claude.com/cai", "https://claude.fedstart.com")
           .replace("platform.claude.com%2Foauth", "claude.fedstart.com%2Foauth"))
    assert cli_output.url_problem(fed) == "not a Claude sign-in host"
    assert cli_output.url_problem(fed, frozenset({"claude.fedstart.com"})) is None


def test_localhost_link_is_skipped_for_the_real_one():
    local = FULL_LOGIN.replace("https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback",
                               "http%3A%2F%2Flocalhost%3A1%2Fcallback")
    text = f"\x1b]8;;{local}\x07x\x1b]8;;\x07 \x1b]8;id=a;{FULL_LOGIN}\x1b\\y\x1b]8;;\x1b\\"
    assert cli_output.sign_in_url(text) == (FULL_LOGIN, ["its redirect_uri points at this machine"])


@pytest.mark.parametrize(("name", "mode", "ready"), [
    ("auth_login_fulllink", LoginMode.OAUTH, True),
    ("auth_login_console", LoginMode.CONSOLE, True),
    ("setup_token_fulllink", LoginMode.SETUP_TOKEN, True),
    ("setup_token_cols80_xterm-256color", LoginMode.SETUP_TOKEN, True),
])
def test_prompt_ready(name, mode, ready):
    assert cli_output.prompt_ready(raw(name), mode) is ready


def test_setup_token_prompt_is_not_ready_before_the_box_is_drawn():
    text = raw("setup_token_fulllink")
    cut = text.index("╭")
    assert not cli_output.prompt_ready(text[:cut], LoginMode.SETUP_TOKEN)
    assert "Paste code here" not in text  # words are joined by cursor moves, not spaces
    assert "Paste code here if prompted" in cli_output.screen_text(text)


def _answers(name: str) -> list[str]:
    """The CLI's output after each pasted line (the echo starts each piece)."""
    text = raw(name)
    return text.split(cli_output.AUTH_PROMPT)[1:]


def test_badpaste_transcript_answers():
    pieces = _answers("auth_login_badpaste")
    got = [cli_output.classify_answer(piece + cli_output.AUTH_PROMPT, LoginMode.OAUTH)
           for piece in pieces[:3]]
    assert got == [
        Rejected("That doesn't look like the full code. Copy all of it, including the # in "
                 "the middle."),
        Rejected("That address only works in a browser on this machine. Open the sign-in "
                 "address shown above instead, and paste the code its last page shows."),
        Rejected("That looks like a verification code. Enter it in your browser, on the page "
                 "that asks for it. If a page then shows a longer code, paste it here."),
    ]
    assert cli_output.classify_answer(pieces[3], LoginMode.OAUTH) == Failed(
        "getaddrinfo ENOTFOUND platform.claude.com")


@pytest.mark.parametrize(("partial", "expected"), [
    (" abc#def\r\r\n", None),
    (" abc#def\r\r\nSigning in…\r\n", None),
    (" abc#def\r\r\nSigning in…\r\nCouldn't log in: boom\r\n", Failed("boom")),
    (" abc#def\r\r\nSigning in…\r\nLogin successful.\r\n", LoggedIn()),
])
def test_auth_login_answer_is_incomplete_until_the_cli_says_so(partial, expected):
    assert cli_output.classify_answer(partial, LoginMode.OAUTH) == expected


def test_ctrl_d_transcript_is_a_failure():
    text = raw("auth_login_ctrld").split(cli_output.AUTH_PROMPT)[1]
    answer = cli_output.classify_answer(text, LoginMode.OAUTH)
    assert isinstance(answer, Failed) and answer.reason.startswith("Input ended")


def test_setup_token_oauth_error_is_a_failure():
    text = raw("setup_token_1")
    after = text[text.index("*bc#def"):]
    reason = ("Couldn't get an answer from the sign-in service (ENOTFOUND). Check your "
              "internet connection, then try again.")
    assert cli_output.classify_answer(after, LoginMode.SETUP_TOKEN) == Failed(
        reason, f"OAuth error: {reason}")


@pytest.mark.parametrize(("text", "plain"), [
    ("\x1b[2GPaste\x1b[8Gcode", " Paste code"),
    ("\x1b[94mblue\x1b[39m", "blue"),
    ("\x1b]8;;https://x\x07link\x1b]8;;\x07", "link"),
    ("\x1b[?25h\x1b7done\x1b8", "done"),
])
def test_screen_text(text, plain):
    assert cli_output.screen_text(text) == plain


# -- setup-token's token: whole, or the session fails (issue 8, defect 4) ---------------
RELEASES = sorted(p.name for p in TRANSCRIPTS.glob("2.*"))


def recorded(version: str, name: str) -> tuple[bytes, dict]:
    """A transcript made by tests/record_cli.py: its bytes and its run.json."""
    folder = TRANSCRIPTS / version
    return (folder / f"{name}.raw").read_bytes(), json.loads((folder / f"{name}.run.json")
                                                            .read_text())


def typed_at(run: dict, what: str) -> int:
    """Bytes of output before ``what`` was typed (the driver's mark)."""
    return next(at for _, step, at in run["steps"] if step == f"typed {what}")


SUCCESS = [(version, cols) for version in RELEASES for cols in (60, 80, 120, 200)]


@pytest.mark.parametrize(("version", "cols"), SUCCESS)
@pytest.mark.parametrize("known", [True, False], ids=["version-row", "any-row"])
def test_the_whole_token_is_read_at_every_width(version, cols, known):
    """The real CLI's success screen (token wrapped below 109 columns), read as the
    driver does: the answer since the paste, the whole output on a screen of the
    PTY's size, with the release's sentences (or every release's)."""
    data, run = recorded(version, f"setup_success_cols{cols}")
    mark = typed_at(run, "<code#state from the fake server>")
    wording = cli_wording.for_version(run["version"]) if known else cli_wording.ANY
    screen = Screen.of(data.decode(), cols, 50)
    answer = cli_output.classify_answer(data[mark:].decode(), LoginMode.SETUP_TOKEN, wording,
                                        screen)
    assert answer == TokenPrinted(tokens_for_code(run["paste"])["access_token"])


@pytest.mark.parametrize("cols", [60, 80, 120, 200])
def test_the_pinned_release_token_is_whole_from_the_answer_alone(cols):
    """The old reader handed out the first line of a wrapped token as the token."""
    data, run = recorded("2.1.332", f"setup_success_cols{cols}")
    after = data[typed_at(run, "<code#state from the fake server>"):].decode()
    assert cli_output.classify_answer(after, LoginMode.SETUP_TOKEN) == TokenPrinted(
        tokens_for_code(run["paste"])["access_token"])


TOKEN = "sk-ant-oat01-" + "Ab3_xY9-" * 11 + "Zz1abcd"  # 108 characters, like a real one
TOKEN_HEAD = ("\x1b[2G\x1b[38;5;114m✔\x1b[4GLong-lived\x1b[15Gauthentication\x1b[30Gtoken"
              "\x1b[36Gcreated\x1b[39m\r\r\n\r\r\n\x1b[2GYour\x1b[7GOAuth\x1b[13Gtoken\r\r\n\r\r\n")
STORE = ("\r\r\n\x1b[2G\x1b[38;5;246mStore\x1b[8Gthis\x1b[13Gtoken\x1b[19Gsecurely.\x1b[39m"
         "\r\r\n\r\r\n\x1b[2G\x1b[38;5;246mUse\x1b[6Gthis\x1b[11Gtoken\x1b[17Gby\x1b[20Gsetting:"
         "\x1b[29Gexport\x1b[36GCLAUDE_CODE_OAUTH_TOKEN=<token>\x1b[39m\r\r\n")


def token_lines(token: str, width: int, style: str = "pinned", colour: str = "38;5;220") -> str:
    """``token`` as the CLI draws it at ``width`` columns: pieces of width-1 from
    column 2; 2.1.332 ends each line with CR CR LF, 2.1.250–2.1.325 move down."""
    pieces = [token[i:i + width - 1] for i in range(0, len(token), width - 1)]
    if style == "pinned":
        return "".join(f"\x1b[2G\x1b[{colour}m{p}\x1b[39m\r\r\n" for p in pieces)
    return "".join(f"\r\x1b[1B \x1b[{colour}m{p}" for p in pieces) + "\x1b[39m\r\r\n"


@pytest.mark.parametrize("style", ["pinned", "older"])
@pytest.mark.parametrize("width", [30, 41, 60, 80, 100, 108, 110, 200, 500])  # not 109
def test_a_token_wrapped_at_any_width_is_joined(width, style):
    output = TOKEN_HEAD + token_lines(TOKEN, width, style) + STORE
    screen = Screen.of(output, width, 50)
    assert cli_output.classify_answer(output, LoginMode.SETUP_TOKEN, screen=screen) == \
        TokenPrinted(TOKEN)


@pytest.mark.parametrize("width", [40, 60, 80])
def test_a_token_cut_at_the_wrap_is_not_an_answer_yet(width):
    """The first line is drawn, the rest is still coming: wait, hand out nothing."""
    full = TOKEN_HEAD + token_lines(TOKEN, width) + STORE
    cut = full[:full.index(TOKEN[width - 1:width + 9])]
    assert cli_output.classify_answer(cut, LoginMode.SETUP_TOKEN,
                                      screen=Screen.of(cut, width, 50)) is None


def unreadable(output: str, width: int) -> None:
    answer = cli_output.classify_answer(output, LoginMode.SETUP_TOKEN,
                                        screen=Screen.of(output, width, 50))
    assert answer == Failed(cli_output.TOKEN_UNREADABLE, cli_output.TOKEN_UNREADABLE)
    assert isinstance(answer, Failed)
    assert "sk-ant" not in answer.line
    assert not any(TOKEN[i:i + 6] in answer.line for i in range(len(TOKEN) - 6))


@pytest.mark.parametrize("width", [40, 60, 80])
def test_a_token_whose_rest_is_not_under_it_fails_the_session(width):
    lines = token_lines(TOKEN, width).split("\r\r\n")
    # a blank line between the pieces: the rest is not joined, nor the head handed out
    unreadable(TOKEN_HEAD + lines[0] + "\r\r\n\r\r\n" + "\r\r\n".join(lines[1:]) + STORE, width)
    # the rest in another colour: not the token's run
    other = token_lines(TOKEN, width).replace("38;5;220", "38;5;246", 2).replace(
        "38;5;246", "38;5;220", 1)
    unreadable(TOKEN_HEAD + other + STORE, width)


def test_a_line_that_reaches_the_last_column_with_nothing_under_it_fails():
    """At 109 columns the first 108 characters fill the line; with no continuation
    the token may be cut, so it is not handed out."""
    assert len(TOKEN) == 108
    unreadable(TOKEN_HEAD + token_lines(TOKEN, 109) + STORE, 109)


def test_the_export_line_must_agree_when_it_shows_the_token():
    for width in (60, 80, 500):
        export = STORE.replace("<token>", TOKEN)
        screen = Screen.of(TOKEN_HEAD + token_lines(TOKEN, width) + export, width, 50)
        assert cli_output.read_token(screen) == TokenPrinted(TOKEN)  # wrapped there too
        other = TOKEN[:-1] + ("a" if TOKEN[-1] != "a" else "b")
        unreadable(TOKEN_HEAD + token_lines(TOKEN, width) + STORE.replace("<token>", other),
                   width)


def test_a_shape_that_is_not_a_token_fails():
    unreadable(TOKEN_HEAD + token_lines("sk-ant-oat01-abc$def", 80) + STORE, 80)
