"""LoginDriver: talks to one CLI process through a pexpect child.

The only module that reads from or writes to the CLI. All judgement about what
the output means lives in :mod:`vaporforge.cli_output` (with the sentences of the
CLI's release from :mod:`vaporforge.cli_wording`); this module only moves bytes,
keeps a screen model of the PTY, and keeps time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pexpect
from pexpect.spawnbase import SpawnBase

from vaporforge import cli_output, defaults
from vaporforge.cli_output import Answer, LoggedIn, Rejected
from vaporforge.cli_wording import Wording, for_version
from vaporforge.errors import ErrorCode, LoginFailed, SessionEnded
from vaporforge.redact import redact
from vaporforge.screen import Screen
from vaporforge.session.states import LoginMode

_READ_SIZE = 65536
_READ_SLICE = 0.2
_ECHO_WAIT = 2.0
_ENDED_POLL = 0.5
_QUIET = 0.5  # a TUI prompt with no box, then silence this long: ready all the same
_EXIT_WAIT = 3.0


@dataclass(frozen=True)
class Exited:
    """The CLI ended by itself after a code was typed."""
    status: int | None


class LoginDriver:
    def __init__(self, child: SpawnBase, mode: LoginMode,
                 clock: Callable[[], float] = time.monotonic,
                 extra_hosts: frozenset[str] = frozenset(),
                 ended: Callable[[], bool] = lambda: False,
                 cli_version: str | None = None, wording: Wording | None = None,
                 cols: int = defaults.PTY_COLUMNS, rows: int = defaults.PTY_ROWS) -> None:
        """``ended`` says whether the session ended elsewhere (cancel, expiry); it is
        asked about twice a second while the driver waits on the CLI.

        ``cli_version`` is ``claude --version``'s output; it picks the sentences the
        output is read with (``wording`` gives them directly; with neither, every
        known release's sentences are accepted). ``cols``/``rows``: the PTY's size."""
        self.child = child
        # pexpect sleeps 50 ms before every send by default: two sends per code
        # would add 0.1 s to each hand-off for nothing.
        child.delaybeforesend = None
        self.mode = mode
        self.wording = wording or for_version(cli_version)
        self.screen = Screen(cols, rows)
        self.extra_hosts = extra_hosts
        self._ended = ended
        self._asked = clock()
        self._last_output = clock()
        self.clock = clock
        self.output = ""
        self.eof = False

    def _read(self, timeout: float) -> bool:
        """Read what the CLI wrote within ``timeout``; False once it has ended."""
        if self.eof:
            return False
        try:
            chunk = self.child.read_nonblocking(_READ_SIZE, timeout=max(timeout, 0))
            self.output += chunk
            self.screen.feed(chunk)
            self._last_output = self.clock()
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            self.eof = True
        return not self.eof

    def _session_ended(self) -> bool:
        if self.clock() - self._asked < _ENDED_POLL:
            return False
        self._asked = self.clock()
        return self._ended()

    def exit_status(self) -> int | None:
        """The CLI's exit status once it has ended (None if unknown or running)."""
        wait = getattr(self.child, "wait", None)
        if not self.eof or wait is None:
            return None
        try:
            status = wait()
        except Exception:  # noqa: BLE001 - fdspawn and reaped children have no status
            return getattr(self.child, "exitstatus", None)
        return status if isinstance(status, int) else None

    def exited_error(self) -> LoginFailed:
        words = redact(cli_output.last_words(self.output))
        detail = f": {words}" if words else ""
        return LoginFailed(ErrorCode.CLI_EXITED, f"The Claude CLI ended before finishing{detail}")

    def read_url(self, timeout: float) -> str:
        """Wait for the sign-in URL and for the prompt that takes the code."""
        deadline = self.clock() + timeout
        while True:
            url, refused = cli_output.sign_in_url(self.output, self.extra_hosts)
            ready = self._prompt_ready(self.output)
            if url and ready:
                return url
            if ready and not url:
                why = refused[0] if refused else "no link in its output"
                raise LoginFailed(ErrorCode.URL_NOT_FOUND,
                                  f"The CLI showed no usable sign-in address ({why}).")
            late = LoginFailed(ErrorCode.URL_NOT_FOUND,
                               f"The CLI showed no sign-in address within {timeout:g} s.")
            if not self._wait_slice(deadline, "started", late):
                raise self.exited_error()

    def _wait_slice(self, deadline: float, during: str, late: LoginFailed) -> bool:
        """One slice of every wait on the CLI: SessionEnded when the session ended
        meanwhile, ``late`` once ``deadline`` has passed; else read what the CLI
        writes for up to a slice, and say whether it still runs."""
        remaining = deadline - self.clock()
        if self._session_ended():
            raise SessionEnded(f"The session ended while the CLI {during}.")
        if remaining <= 0:
            raise late
        return self._read(min(remaining, _READ_SLICE))

    def _prompt_ready(self, output: str) -> bool:
        return cli_output.prompt_ready(output, self.mode, self.wording) or (
            self.clock() - self._last_output >= _QUIET
            and cli_output.prompt_shown(output, self.mode, self.wording))

    def _answer(self, mark: int) -> Answer | None:
        return cli_output.classify_answer(self.output[mark:], self.mode, self.wording,
                                          self.screen)

    def alive(self) -> bool:
        """Drain pending output without waiting; False once the CLI has ended."""
        return self._read(0)

    def submit(self, code: str, timeout: float) -> Answer | Exited:
        """Type ``code`` and Enter, then wait for the CLI's answer."""
        mark = len(self.output)
        deadline = self.clock() + timeout
        self.child.send(code)
        if self.mode is LoginMode.SETUP_TOKEN:
            # The TUI redraws its box as keys arrive, masking all but the last six
            # characters; Enter goes only once the tail shows (or after a short
            # bound), so it cannot overtake the pasted text.
            tail = code[-4:]
            settle = min(deadline, self.clock() + _ECHO_WAIT)
            while tail not in cli_output.screen_text(self.output[mark:]):
                if self.clock() >= settle or not self._read(_READ_SLICE):
                    break
        self.child.send("\r")
        while True:
            answer = self._answer(mark)
            if isinstance(answer, LoggedIn):
                return self._exit_after_success()
            if isinstance(answer, Rejected) and answer.enter_to_retry:
                return self._retry(answer, deadline)
            if answer is not None:
                return answer
            late = LoginFailed(ErrorCode.TIMEOUT, f"The CLI did not answer within {timeout:g} s.")
            if not self._wait_slice(deadline, "was signing in", late):
                answer = self._answer(mark)
                if answer is None or isinstance(answer, LoggedIn):
                    return Exited(self.exit_status())
                return answer

    def _retry(self, answer: Rejected, deadline: float) -> Rejected:
        """The TUI showed a refusal as an error: Enter, then wait until it takes a
        paste again (releases up to 2.1.325 redraw the same sign-in URL)."""
        mark = len(self.output)
        self.child.send("\r")
        late = LoginFailed(ErrorCode.TIMEOUT, "The CLI did not ask for the code again.")
        while not self._prompt_ready(self.output[mark:]):
            if not self._wait_slice(deadline, "was signing in", late):
                raise self.exited_error()
        return answer

    def _exit_after_success(self) -> Exited:
        """The CLI said it logged in: give it a moment to exit, for its status."""
        deadline = self.clock() + _EXIT_WAIT
        while self.clock() < deadline and self._read(_READ_SLICE):
            pass
        return Exited(self.exit_status() if self.eof else None)
