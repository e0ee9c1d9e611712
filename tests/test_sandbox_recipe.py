"""docs/SANDBOX.md, run for real: Claude Code started with what the broker handed out.

Every CLI in ``VF_REAL_CLI``, in an empty network namespace (tests/netns_run.sh: the
Anthropic hosts resolve to a local stand-in, tests/fake_oauth_server.py, which logs
each request and answers the model call 404; nothing leaves the machine), with a
fresh HOME and only the environment and files the document names. What the tests
assert is what a sandbox owner would look for: the CLI reaches its API call with
the credential it was given, and shows no login or onboarding screen on the way;
without the onboarding mark (or, for an API key, without its approval) it shows
the screens the document warns about instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.support.processes import cli_processes, wait_for
from tests.support.real_clis import RealCli, real_clis
from vaporforge.screen import Screen

CLIS = real_clis()
pytestmark = pytest.mark.realcli
if not CLIS:
    pytest.skip("VF_REAL_CLI names the real CLIs (the README's test command sets it)",
                allow_module_level=True)

NETNS = Path(__file__).resolve().parent / "netns_run.sh"
# Fakes of the right shape: the stand-in accepts any, the real service none.
ACCESS_TOKEN = "sk-ant-oat01-" + "a1B2" * 24
API_KEY = "sk-ant-api03-" + "c3D4" * 23 + "-eF5gAA"
# What the CLI shows on the screens a sandbox must never stop at.
THEME = "Choose the text style"
SECURITY_NOTES = "Security notes"
TRUST = "Yes, I trust this folder"
KEY_QUESTION = "Do you want to use this API key?"
LOGIN = ("Not logged in", "Select login method", "run /login")
SCREENS_TO_AVOID = (THEME, SECURITY_NOTES, TRUST, KEY_QUESTION, *LOGIN)
# 2.1.250 asks for a login method during onboarding although CLAUDE_CODE_OAUTH_TOKEN
# is set; 2.1.300 and 2.1.332 do not (the releases between were not checked).
LOGIN_IN_ONBOARDING_UNTIL = (2, 1, 300)


@pytest.fixture(params=CLIS, ids=[cli.name for cli in CLIS])
def cli(request) -> RealCli:
    return request.param


@pytest.fixture
def sandbox(tmp_path: Path, cli: RealCli) -> Iterator[Path]:
    """A fresh HOME and workspace; no CLI of this test may outlive it."""
    (tmp_path / "home").mkdir()
    (tmp_path / "workspace").mkdir()
    yield tmp_path
    wait_for(lambda: not cli_processes(cli.path, within=tmp_path), timeout=20,
             what="the CLI to end")


# --- the recipe, as docs/SANDBOX.md writes it --------------------------------------
def mark_onboarded(config_dir: Path, workspace: Path | None = None,
                   api_key: str | None = None) -> None:
    """``.claude.json`` in the CLI's config folder: onboarding done; for an
    interactive start, the workspace trusted and the API key approved."""
    config: dict[str, object] = {"hasCompletedOnboarding": True}
    if workspace is not None:
        config["projects"] = {str(workspace): {"hasTrustDialogAccepted": True}}
    if api_key is not None:
        config["customApiKeyResponses"] = {"approved": [api_key[-20:]], "rejected": []}
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / ".claude.json").write_text(json.dumps(config))


def environment(sandbox: Path, **credential: str) -> dict[str, str]:
    """Nothing of the test's own environment but PATH: HOME, the terminal, the
    credential (and PYTHON, for netns_run.sh's stand-in)."""
    return {"PATH": os.environ["PATH"], "HOME": str(sandbox / "home"),
            "TERM": "xterm-256color", "LANG": "C.UTF-8", "PYTHON": sys.executable,
            **credential}


# --- what the stand-in saw ---------------------------------------------------------
def requests(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def model_calls(log: Path) -> list[dict]:
    return [r for r in requests(log) if r["method"] == "POST" and r["path"] == "/v1/messages"]


def print_mode(cli: RealCli, sandbox: Path, env: dict[str, str]) -> tuple[str, list[dict]]:
    log = sandbox / "requests.jsonl"
    done = subprocess.run(["bash", str(NETNS), "--log", str(log), "--", cli.path, "-p", "hello"],
                          env=env, cwd=sandbox / "workspace", stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0, done.stdout  # the model call cannot succeed here
    return done.stdout + done.stderr, model_calls(log)


class Terminal:
    """The interactive CLI in a 120x50 pseudo-terminal, inside the namespace; every
    line it ever showed is kept (full-screen redraws overwrite)."""

    def __init__(self, cli: RealCli, sandbox: Path, env: dict[str, str]) -> None:
        self.cli, self.sandbox, self.log = cli, sandbox, sandbox / "requests.jsonl"
        self.child = pexpect.spawn("bash", [str(NETNS), "--log", str(self.log), "--", cli.path],
                                   env=env, cwd=str(sandbox / "workspace"),
                                   dimensions=(50, 120), encoding="utf-8",
                                   codec_errors="replace")
        self.screen = Screen.of("", cols=120, rows=50)
        self.shown: set[str] = set()

    def pump(self) -> str:
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
            self.screen.feed(self.child.read_nonblocking(65536, timeout=0.1))
        lines = self.screen.lines()
        self.shown.update(line.strip() for line in lines)
        return "\n".join(lines)

    def until(self, text: str, what: str) -> str:
        """The screen once it shows ``text``."""
        def showing() -> str:
            screen = self.pump()
            return screen if text in screen else ""
        return wait_for(showing, timeout=90, what=what)

    def press_until(self, keys: str, text: str, what: str) -> str:
        """Send ``keys`` (again every 2 s: keys sent while a dialog is still being
        drawn can be lost) until the screen shows ``text``."""
        def pressed() -> str:
            self.child.send(keys)
            for _ in range(20):
                screen = self.pump()
                if text in screen:
                    return screen
            return ""
        return wait_for(pressed, timeout=60, what=what)

    def saw(self, phrase: str) -> bool:
        return any(phrase in line for line in self.shown)

    def close(self) -> None:
        # SIGTERM to the CLI only: netns_run.sh then stops its stand-in and cleans up.
        if self.child.isalive():
            for pid in cli_processes(self.cli.path, within=self.sandbox):
                os.kill(pid, signal.SIGTERM)
            self.child.expect(pexpect.EOF, timeout=30)
        self.child.close()


@pytest.fixture
def terminals(sandbox: Path) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def open_terminal(terminals: list[Terminal], cli: RealCli, sandbox: Path,
                  env: dict[str, str]) -> Terminal:
    terminal = Terminal(cli, sandbox, env)
    terminals.append(terminal)
    return terminal


# --- print mode (claude -p) ----------------------------------------------------------
def test_print_mode_with_the_oauth_token_reaches_the_model_call(cli, sandbox):
    mark_onboarded(sandbox / "home")
    out, calls = print_mode(cli, sandbox, environment(sandbox,
                                                      CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN))
    assert calls, out
    assert {c["auth"] for c in calls} == {"Bearer <sk-ant-oat01-…>"}
    assert not any(phrase in out for phrase in LOGIN), out


def test_print_mode_with_the_console_api_key_reaches_the_model_call(cli, sandbox):
    mark_onboarded(sandbox / "home")
    out, calls = print_mode(cli, sandbox, environment(sandbox, ANTHROPIC_API_KEY=API_KEY))
    assert calls, out
    assert {(c["auth"], c.get("api_key")) for c in calls} == {(None, "<sk-ant-api03-c…>")}
    assert not any(phrase in out for phrase in LOGIN), out


def test_print_mode_needs_no_onboarding_mark(cli, sandbox):
    """A fact the document states: -p skips onboarding, so a fresh HOME is enough."""
    out, calls = print_mode(cli, sandbox, environment(sandbox,
                                                      CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN))
    assert calls, out


def test_print_mode_without_a_credential_asks_for_a_login(cli, sandbox):
    """The control: the same start with no credential is what a login screen looks like."""
    out, calls = print_mode(cli, sandbox, environment(sandbox))
    assert calls == []
    assert "Not logged in" in out


# --- interactive (a pseudo-terminal) ------------------------------------------------
@pytest.mark.parametrize("where", ["HOME", "CLAUDE_CONFIG_DIR"])
def test_interactive_with_the_oauth_token_goes_straight_to_the_prompt(
        cli, sandbox, terminals, where):
    env = environment(sandbox, CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN)
    config_dir = sandbox / "home"
    if where == "CLAUDE_CONFIG_DIR":
        config_dir = sandbox / "claude-config"
        env["CLAUDE_CONFIG_DIR"] = str(config_dir)
    mark_onboarded(config_dir, workspace=sandbox / "workspace")
    terminal = open_terminal(terminals, cli, sandbox, env)
    terminal.until("❯", "the prompt")
    terminal.child.send("hello\r")
    wait_for(lambda: terminal.pump() and model_calls(terminal.log), timeout=90,
             what="the model call")
    assert {c["auth"] for c in model_calls(terminal.log)} == {"Bearer <sk-ant-oat01-…>"}
    terminal.pump()
    assert [p for p in SCREENS_TO_AVOID if terminal.saw(p)] == []


def test_interactive_with_the_approved_api_key_goes_straight_to_the_prompt(
        cli, sandbox, terminals):
    mark_onboarded(sandbox / "home", workspace=sandbox / "workspace", api_key=API_KEY)
    terminal = open_terminal(terminals, cli, sandbox,
                             environment(sandbox, ANTHROPIC_API_KEY=API_KEY))
    terminal.until("❯", "the prompt")
    terminal.child.send("hello\r")
    wait_for(lambda: terminal.pump() and model_calls(terminal.log), timeout=90,
             what="the model call")
    assert {c.get("api_key") for c in model_calls(terminal.log)} == {"<sk-ant-api03-c…>"}
    terminal.pump()
    assert [p for p in SCREENS_TO_AVOID if terminal.saw(p)] == []


def test_interactive_without_the_onboarding_mark_starts_onboarding(cli, sandbox, terminals):
    """The trap (anthropics/claude-code #8938): the token is there, yet a fresh
    config starts the first-run screens, and nothing reaches the model until a
    person answers them. Releases before LOGIN_IN_ONBOARDING_UNTIL even ask for a
    login there, as if no token were set."""
    terminal = open_terminal(terminals, cli, sandbox,
                             environment(sandbox, CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN))
    terminal.until(THEME, "the theme picker")
    terminal.child.send("hello\r")  # what a script would type: it only picks a theme
    if cli.version < LOGIN_IN_ONBOARDING_UNTIL:
        terminal.until("Select login method", "the login method question")
    else:
        terminal.until(SECURITY_NOTES, "the security notes")
        assert not any(terminal.saw(p) for p in LOGIN)  # the token itself was taken
    assert model_calls(terminal.log) == []


def test_interactive_in_an_untrusted_workspace_exits_on_enter(cli, sandbox, terminals):
    """Onboarded but the workspace not trusted: a question whose preselected
    answer exits the CLI."""
    mark_onboarded(sandbox / "home")
    terminal = open_terminal(terminals, cli, sandbox,
                             environment(sandbox, CLAUDE_CODE_OAUTH_TOKEN=ACCESS_TOKEN))
    screen = terminal.until(TRUST, "the workspace trust question")
    assert "❯ No, exit" in screen
    # Enter until the CLI ends: a key pressed while the dialog is still being
    # drawn can be lost (the CLI is not reading yet).
    ended = wait_for(lambda: terminal.child.send("\r") and terminal.child.expect(
        [pexpect.EOF, pexpect.TIMEOUT], timeout=2) == 0, timeout=60, what="the CLI to end")
    assert ended
    assert model_calls(terminal.log) == []


def test_interactive_api_key_without_approval_is_refused_by_default(cli, sandbox, terminals):
    """The other trap: an unapproved ANTHROPIC_API_KEY is a question whose
    preselected answer is No; a script's Enter leaves the CLI not logged in."""
    mark_onboarded(sandbox / "home", workspace=sandbox / "workspace")
    terminal = open_terminal(terminals, cli, sandbox,
                             environment(sandbox, ANTHROPIC_API_KEY=API_KEY))
    screen = terminal.until(KEY_QUESTION, "the API key question")
    assert "❯ No (recommended)" in screen
    terminal.press_until("\r", "Not logged in", "the CLI to say it is not logged in")
    assert model_calls(terminal.log) == []


def test_the_recipe_files_are_what_the_document_shows():
    """docs/SANDBOX.md's JSON is the JSON these tests write."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "SANDBOX.md").read_text()
    assert '{"hasCompletedOnboarding": true}' in doc
    assert '"hasTrustDialogAccepted": true' in doc
    assert '"customApiKeyResponses"' in doc
    assert shutil.which("bash")
