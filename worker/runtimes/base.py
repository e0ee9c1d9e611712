"""The runtime interface: where one login's CLI process lives.

A runtime starts an isolated place for one session (a local throwaway HOME, or a
login container), spawns the CLI there as a pexpect child on a wide PTY, reads a
file from the CLI's HOME, and tears everything down. ``stop()`` is idempotent and
must succeed on every path (success, failure, cancel, expiry, crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pexpect.spawnbase import SpawnBase


@dataclass(frozen=True)
class SpawnSpec:
    """What to run: argv (already split), extra env, and the PTY size."""

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cols: int = 500
    rows: int = 50


class LoginPlace(Protocol):
    """One session's isolated place: a local HOME or a container."""

    home: str

    def spawn(self, spec: SpawnSpec) -> SpawnBase:
        """Start the CLI; return a text-mode pexpect child (``encoding='utf-8'``).

        The driver uses ``read_nonblocking``, ``send`` and, once the CLI has
        ended, ``wait()`` for its exit status where the child knows it. No byte
        the CLI writes may be lost before the child is returned."""

    def read_file(self, path: str) -> bytes | None:
        """Bytes of ``path`` (relative to HOME), or ``None`` when it does not exist."""

    def stop(self) -> None:
        """End the CLI and remove everything the place made. Idempotent; raises
        RuntimeFailure only when the engine cannot be reached (the reaper then
        finishes the job)."""


class Runtime(Protocol):
    """Makes login places. One runtime object serves many sessions at once."""

    name: str

    def start(self, session_id: str, expires_at: int) -> LoginPlace:
        """Create the place for ``session_id``; it must not outlive ``expires_at``."""

    def reap(self, live_session_ids: set[str]) -> int:
        """End places whose session is not in ``live_session_ids`` or whose
        ``expires_at`` has passed; return how many were ended."""

    def version(self, login_command: tuple[str, ...]) -> str:
        """``<login_command> --version`` as the runtime runs it."""
