"""The CLI's sentences per release (issue 8, defect 8), against real transcripts.

``tests/transcripts/<version>/`` were recorded from the real CLIs with
tests/record_cli.py, in a namespace without internet; each ``run.json`` gives the
byte offset at which each paste was typed (the driver's mark). Every case is read
twice: with the row ``claude --version`` picks, and with :data:`cli_wording.ANY`
(what a driver uses when it was not told the version).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.real_clis import OLD_REFUSAL, PINNED_REFUSALS
from vaporforge import cli_output, cli_wording
from vaporforge.cli_output import Failed, LoggedIn, Rejected
from vaporforge.screen import Screen
from vaporforge.session.states import LoginMode

TRANSCRIPTS = Path(__file__).parent / "transcripts"
PINNED = PINNED_REFUSALS
# What each release answers to a paste, as recorded (2.1.250 and 2.1.300 through
# 2.1.325 refuse every malformed paste with one sentence and print no prompt again).
REFUSALS = {"2.1.250": dict.fromkeys(PINNED, OLD_REFUSAL),
            "2.1.300": dict.fromkeys(PINNED, OLD_REFUSAL),
            "2.1.332": PINNED}
FAILURE_LABEL = {"2.1.250": "Login failed", "2.1.300": "Login failed",
                 "2.1.332": "Couldn't log in"}
RELEASES = sorted(REFUSALS)
ROWS = pytest.mark.parametrize("known", [True, False], ids=["version-row", "any-row"])


def recorded(version: str, name: str) -> tuple[bytes, dict]:
    folder = TRANSCRIPTS / version
    return ((folder / f"{name}.raw").read_bytes(),
            json.loads((folder / f"{name}.run.json").read_text()))


def answers(data: bytes, run: dict) -> list[tuple[str, str]]:
    """(what was typed, the CLI's output from then until the next paste)."""
    marks = [(step[len("typed "):], at) for _, step, at in run["steps"]
             if step.startswith("typed ") and step != "typed Enter"]
    ends = [at for _, at in marks[1:]] + [len(data)]
    return [(typed.strip("'"), data[at:end].decode()) for (typed, at), end in
            zip(marks, ends, strict=True)]


def before_first_paste(data: bytes, run: dict) -> str:
    first = next(at for _, step, at in run["steps"] if step.startswith("typed "))
    return data[:first].decode()


def wording(run: dict, known: bool) -> cli_wording.Wording:
    return cli_wording.for_version(run["version"]) if known else cli_wording.ANY


@pytest.mark.parametrize(("text", "first"), [
    ("2.1.240 (Claude Code)", (2, 1, 240)),
    ("2.1.250 (Claude Code)", (2, 1, 240)),
    ("2.1.300 (Claude Code)", (2, 1, 240)),
    ("2.1.325", (2, 1, 240)),
    ("2.1.326 (Claude Code)", (2, 1, 326)),
    ("2.1.332 (Claude Code)", (2, 1, 326)),
    ("2.2.0 (Claude Code)", (2, 1, 326)),  # newer: the newest row, until a new one is added
    ("2.1.197 (Claude Code)", (0,)),       # older than every row: all sentences
    ("unavailable", (0,)),
    (None, (0,)),
])
def test_the_row_is_picked_by_version(text, first):
    assert cli_wording.for_version(text).first == first


def test_any_row_holds_every_rows_sentences():
    for row in cli_wording.ROWS:
        assert set(row.refusals) <= set(cli_wording.ANY.refusals)
        assert set(row.failure_labels) <= set(cli_wording.ANY.failure_labels)


@pytest.mark.parametrize("version", RELEASES)
@ROWS
def test_auth_login_refusals_and_failure_of_each_release(version, known):
    data, run = recorded(version, "auth_badpaste")
    row = wording(run, known)
    got = [(typed, cli_output.classify_answer(output, LoginMode.OAUTH, row))
           for typed, output in answers(data, run)]
    assert got[:3] == [(typed, Rejected(sentence)) for typed, sentence in
                       REFUSALS[version].items()]
    typed, failed = got[3]
    assert typed == "abc#def" and isinstance(failed, Failed)
    assert failed.line.startswith(f"{FAILURE_LABEL[version]}: getaddrinfo ")
    assert failed.reason.startswith("getaddrinfo ")


@pytest.mark.parametrize("version", RELEASES)
@ROWS
def test_auth_login_success_of_each_release(version, known):
    data, run = recorded(version, "auth_success")
    ((_, output),) = answers(data, run)
    assert cli_output.classify_answer(output, LoginMode.OAUTH, wording(run, known)) == LoggedIn()


@pytest.mark.parametrize("version", RELEASES)
@ROWS
def test_setup_token_refusal_and_failure_of_each_release(version, known):
    """2.1.332 shows a refusal under its input box and reads on; up to 2.1.325 it
    is an ``OAuth error`` that wants Enter, after which the same URL and prompt
    come back."""
    data, run = recorded(version, "setup_badpaste")
    row = wording(run, known)
    (_, refused), (_, failed) = answers(data, run)
    old = version != "2.1.332"
    screen = Screen.of(data.decode(), run["cols"], run["rows"])
    assert cli_output.classify_answer(refused, LoginMode.SETUP_TOKEN, row, screen) == Rejected(
        OLD_REFUSAL if old else PINNED["abc"], enter_to_retry=old)
    if old:  # after Enter: ready for a paste again, at the same sign-in URL
        again = refused[refused.index("Retrying"):]
        assert cli_output.prompt_ready(again, LoginMode.SETUP_TOKEN, row)
        assert cli_output.sign_in_url(again)[0] == cli_output.sign_in_url(data.decode())[0]
    answer = cli_output.classify_answer(failed, LoginMode.SETUP_TOKEN, row, screen)
    assert isinstance(answer, Failed) and answer.line.startswith("OAuth error: ")
    assert "Press Enter" not in answer.line


@pytest.mark.parametrize("version", RELEASES)
@ROWS
def test_setup_token_prompt_is_ready_in_each_release(version, known):
    data, run = recorded(version, "setup_badpaste")
    before = before_first_paste(data, run)
    assert cli_output.prompt_ready(before, LoginMode.SETUP_TOKEN, wording(run, known))


def test_the_pinned_row_alone_does_not_know_the_older_prompt():
    """Why the row matters: 2.1.300 draws no input box."""
    data, run = recorded("2.1.300", "setup_badpaste")
    before = before_first_paste(data, run)
    pinned = cli_wording.for_version("2.1.332")
    assert not cli_output.prompt_ready(before, LoginMode.SETUP_TOKEN, pinned)
    assert cli_output.prompt_shown(before, LoginMode.SETUP_TOKEN, cli_wording.ANY)


def test_a_rewording_is_one_row():
    """A hypothetical release that only rewords its refusal: one new row reads it."""
    reworded = "That code is incomplete; paste all of it."
    row = cli_wording.Wording(first=(9, 0, 0), until=None, refusals=(reworded,),
                              failure_labels=("Sign-in failed",))
    assert cli_output.classify_answer(f"{reworded}\r\n", LoginMode.OAUTH, row) == Rejected(
        reworded)
    assert cli_output.classify_answer("Sign-in failed: boom\r\n", LoginMode.OAUTH, row) == \
        Failed("boom", "Sign-in failed: boom")


def test_every_tested_release_has_its_row_and_the_pin_is_tested():
    """tests/cli-versions.txt is what scripts/test.sh installs and drives."""
    root = Path(__file__).resolve().parent.parent
    listed = [line.split("#")[0].strip() for line in
              (root / "tests" / "cli-versions.txt").read_text().splitlines()]
    listed = [version for version in listed if version]
    assert (root / "CLAUDE_CODE_VERSION").read_text().strip() in listed
    for version in listed:
        assert cli_wording.for_version(version) in cli_wording.ROWS, version
        assert (TRANSCRIPTS / version).is_dir(), f"record {version} with tests/record_cli.py"
