"""LocalRuntime: the CLI as a subprocess on the worker's own machine.

Each session gets a private 0700 HOME under ``work_dir`` named after the session
id, so a reaper can find and remove what a crashed worker left behind. The
CLI is started in its own process group with a parent-death signal, and stop()
kills the whole group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pexpect
from pexpect.spawnbase import SpawnBase

from vaporforge.errors import ErrorCode, RuntimeFailure
from worker.runtimes.base import SpawnSpec

_PR_SET_PDEATHSIG = 1
_HOME_PREFIX = "vf-"
START_GRACE = 3
"""Seconds a new HOME is safe from the reaper whatever the live list said."""


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig is signal.SIGTERM:
            time.sleep(0.05)


class LocalPlace:
    def __init__(self, home: str, base_env: dict[str, str]) -> None:
        self.home = home
        self._base_env = base_env
        self._child: pexpect.spawn | None = None

    def spawn(self, spec: SpawnSpec) -> SpawnBase:
        env = {**self._base_env, **spec.env, "HOME": self.home}
        try:
            child = pexpect.spawn(
                spec.argv[0], list(spec.argv[1:]), env=env, cwd=self.home,
                dimensions=(spec.rows, spec.cols), encoding="utf-8", codec_errors="replace",
                echo=False, preexec_fn=_die_with_parent)
        except pexpect.ExceptionPexpect:
            raise RuntimeFailure("The login command could not be started.",
                                 code=ErrorCode.CLI_NOT_FOUND) from None
        self._child = child
        return child

    def read_file(self, path: str) -> bytes | None:
        full = os.path.realpath(os.path.join(self.home, path))
        if not full.startswith(os.path.realpath(self.home) + os.sep):
            raise RuntimeFailure("Refusing to read outside the login HOME.")
        try:
            with open(full, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            if child.pid:
                _kill_group(child.pid)
            with contextlib.suppress(Exception):
                child.close(force=True)
        shutil.rmtree(self.home, ignore_errors=True)


class LocalRuntime:
    """Runs the CLI locally; ``work_dir`` holds the per-session HOMEs."""

    name = "local"

    def __init__(self, work_dir: str, path: str | None = None) -> None:
        self.work_dir = work_dir
        claim_work_dir(work_dir)
        self._env = {"PATH": path or os.environ.get("PATH", "/usr/bin:/bin")}

    def start(self, session_id: str, expires_at: int) -> LocalPlace:
        home = tempfile.mkdtemp(
            prefix=f"{_HOME_PREFIX}{session_id}.{expires_at}.{int(time.time())}.",
            dir=self.work_dir)
        return LocalPlace(home, self._env)

    def reap(self, live_session_ids: set[str]) -> int:
        """Remove HOMEs (and their process groups' leftovers) of ended sessions.
        A HOME younger than the start grace is left alone unless overdue: its
        session may have been made after ``live_session_ids`` was read."""
        ended = 0
        now = time.time()
        for entry in os.listdir(self.work_dir):
            if not entry.startswith(_HOME_PREFIX):
                continue
            session_id, _, rest = entry[len(_HOME_PREFIX):].partition(".")
            expires, _, rest = rest.partition(".")
            created = rest.partition(".")[0]
            overdue = expires.isdigit() and int(expires) < now
            young = created.isdigit() and now - int(created) < START_GRACE
            if (session_id in live_session_ids or young) and not overdue:
                continue
            _kill_processes_in(os.path.join(self.work_dir, entry))
            shutil.rmtree(os.path.join(self.work_dir, entry), ignore_errors=True)
            ended += 1
        return ended

    def version(self, login_command: tuple[str, ...]) -> str:
        try:
            done = subprocess.run([*login_command, "--version"], capture_output=True,
                                  text=True, timeout=30, env=self._env, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        return (done.stdout.strip() or done.stderr.strip() or "unknown")[:200]


def claim_work_dir(work_dir: str) -> None:
    """Make ``work_dir`` (0700) or accept it only if this user owns it, it is a
    real folder (not a link) and nobody else may write to it: another local user
    who could swap a session's HOME would receive its credentials."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(work_dir)), exist_ok=True)
        os.mkdir(work_dir, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RuntimeFailure(f"Cannot create the work folder {work_dir}: "
                             f"{exc.strerror}.") from None
    info = os.lstat(work_dir)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeFailure(f"The work folder {work_dir} is not a real folder.")
    if info.st_uid != os.geteuid():
        raise RuntimeFailure(f"The work folder {work_dir} belongs to another user.")
    if info.st_mode & 0o022:
        raise RuntimeFailure(f"The work folder {work_dir} is writable by other users.")


def _kill_processes_in(home: str) -> None:
    """Kill processes whose working directory is ``home`` (a crashed worker's CLI)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/cwd").startswith(home):
                os.kill(int(pid), signal.SIGKILL)
