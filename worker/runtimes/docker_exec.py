"""ExecChild: a CLI started by ``docker exec`` with a TTY, driven as a pexpect child.

With :mod:`worker.runtimes.docker_runtime`, the only module that imports the
docker SDK. :func:`spawn_exec` runs the argv through a small launcher that
records its pid, sizes the PTY and waits, echo off, for a line the worker sends
once it holds the exec's socket, so no output can be lost; the launcher then
prints a marker and execs the argv, and the child's first byte is the CLI's.
The socket becomes an :class:`ExecChild` (``pexpect.fdpexpect.fdspawn``) that
asks the engine whether the exec still runs and signals its process group
through another exec. Exec sockets are raw streams only over a ``unix://`` or
plain ``tcp://`` engine address, not TLS or ssh. Every engine error becomes a
:class:`RuntimeFailure` with a fixed message.
"""

from __future__ import annotations

import os
import select
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import docker
import requests
from docker.errors import DockerException
from pexpect.fdpexpect import fdspawn

from vaporforge.errors import RuntimeFailure

# $1 cols, $2 rows, $3 spawn token, then the argv. Record the pid (for
# terminate), set the PTY size, wait with echo off for the line the worker sends
# once it holds the socket (so no output can be lost), print a marker that ends
# whatever came before (the line's echo, if it beat stty), then exec the argv.
_LAUNCH = (
    'echo $$ > "/tmp/vf-spawn-$3.pid"; stty cols "$1" rows "$2" -echo; read -r _; '
    'stty echo; printf "vaporforge-spawn %s\\n" "$3"; shift 3; exec "$@"'
)
# Signal a spawned process group: $1 signal name, $2 spawn token.
_KILL = 'p=$(cat "/tmp/vf-spawn-$2.pid") && kill -s "$1" -- "-$p" "$p" 2>/dev/null; true'


@contextmanager
def docker_errors(message: str) -> Iterator[None]:
    """Turn any engine error into a RuntimeFailure with a fixed message."""
    try:
        yield
    except (DockerException, requests.RequestException, OSError) as exc:
        raise RuntimeFailure(message) from exc


def _skip_through(fd: int, marker: bytes, timeout: float = 15.0) -> None:
    """Read ``fd`` up to the end of ``marker`` and not one byte further: each read
    asks only for as many bytes as could complete the marker."""
    tail = b""
    deadline = time.monotonic() + timeout
    while not tail.endswith(marker):
        part = next((n for n in range(len(marker) - 1, 0, -1) if tail.endswith(marker[:n])), 0)
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeFailure("The CLI did not start in the login container in time.")
        chunk = os.read(fd, len(marker) - part)
        if not chunk:
            raise RuntimeFailure("The CLI did not start in the login container.")
        tail = (tail + chunk)[-len(marker) :]


class ExecChild(fdspawn):
    """A pexpect child on an exec's TTY socket; knows the exec's state."""

    def __init__(
        self, fd: int, sock: Any, api: docker.APIClient, container_id: str, exec_id: str,
        token: str,
    ) -> None:
        super().__init__(fd, encoding="utf-8", codec_errors="replace")
        self._sock, self._api, self._container_id = sock, api, container_id
        self._exec_id, self._token = exec_id, token

    def _inspect(self) -> dict[str, Any]:
        with docker_errors("Could not check the login process."):
            return self._api.exec_inspect(self._exec_id)

    def isalive(self) -> bool:
        """True while the socket is open and the exec runs (asks the engine)."""
        return super().isalive() and bool(self._inspect().get("Running"))

    def wait(self, timeout: float = 10.0) -> int | None:
        """The exec's exit code, waiting up to ``timeout`` s; None if it still runs."""
        deadline = time.monotonic() + timeout
        while True:
            state = self._inspect()
            if not state.get("Running"):
                self.exitstatus = self.status = state.get("ExitCode")
                return self.exitstatus
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def signal_group(self, sig: str) -> None:
        """Send ``sig`` (a name: HUP, TERM, KILL) to the spawned process group."""
        cmd = ["/bin/sh", "-c", _KILL, "vaporforge-kill", sig, self._token]
        with docker_errors("Could not signal the login process."):
            exec_id = self._api.exec_create(self._container_id, cmd)["Id"]
            self._api.exec_start(exec_id)

    def terminate(self, force: bool = False) -> bool:
        """HUP, then TERM (then KILL if ``force``); True once the process is gone."""
        for sig in ("HUP", "TERM", "KILL")[: 3 if force else 2]:
            self.signal_group(sig)
            if self.wait(timeout=0.5) is not None:
                return True
        return False

    def close(self, force: bool = True) -> None:
        """End the process if it still runs, then release the socket."""
        if not self.closed and self._inspect().get("Running"):
            self.terminate(force)
        self.release()

    def release(self) -> None:
        """Close the socket only (the container's removal ends the process)."""
        if self.child_fd != -1:
            super().close()
        with suppress(OSError):
            self._sock.close()


def spawn_exec(api: docker.APIClient, container_id: str, argv: tuple[str, ...],
               env: Mapping[str, str], size: tuple[int, int], workdir: str,
               started: list[ExecChild]) -> ExecChild:
    """Run ``argv`` in the container on a ``size`` (cols, rows) TTY and return it
    as a child whose next output is the CLI's. The child is appended to
    ``started`` as soon as it exists, so its owner releases it on every path,
    even when the CLI then fails to start."""
    token = uuid.uuid4().hex
    cmd = ["/bin/sh", "-c", _LAUNCH, "vaporforge-spawn", str(size[0]), str(size[1]), token,
           *argv]
    with docker_errors("Could not start the CLI in the login container."):
        exec_id = api.exec_create(
            container_id, cmd, stdin=True, tty=True, environment=dict(env), workdir=workdir
        )["Id"]
        sock = api.exec_start(exec_id, tty=True, socket=True)
        # Our own descriptor, blocking, independent of the SDK's socket objects.
        fd = os.dup(sock.fileno())
        os.set_blocking(fd, True)
        child = ExecChild(fd, sock, api, container_id, exec_id, token)
        started.append(child)
        os.write(fd, b"\n")  # let _LAUNCH go on to exec the CLI
    _skip_through(fd, f"vaporforge-spawn {token}\r\n".encode())
    return child
