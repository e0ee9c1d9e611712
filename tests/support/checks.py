"""What every test must leave behind: nothing. Called by conftest's after-test
fixture; kept here so conftest only wires fixtures."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path

import redis

from tests.support.processes import cli_processes, keys_without_ttl, wait_for


def assert_nothing_left(work_root: Path) -> None:
    """No CLI process working in this test run's folders, and no login HOME under
    ``work_root`` (waited for, 20 s each). On a leak, what the test left is
    cleared first, so the leak is reported for this test and not again by every
    test after it. Only this run's CLIs count (their HOMEs are below pytest's base
    folder, ``work_root``'s parent): the test command runs two pytest processes
    side by side, and neither may judge or kill the other's."""
    homes = lambda: [p for p in work_root.glob("*/homes/*")]  # noqa: E731
    ours = lambda: cli_processes(within=work_root.parent)  # noqa: E731
    try:
        wait_for(lambda: not ours(), timeout=20, what="every CLI process to end")
        wait_for(lambda: not homes(), timeout=20, what="every login HOME to be removed")
    except AssertionError as exc:
        for pid in ours():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = homes()
        for home in left:
            shutil.rmtree(home, ignore_errors=True)
        raise AssertionError(f"{exc}; left behind: {[p.name for p in left]}") from None


def assert_every_key_expires(urls: Iterable[str]) -> None:
    """No key of the store databases ``urls`` lacks a TTL."""
    for url in urls:
        client = redis.Redis.from_url(url)
        assert keys_without_ttl(client) == [], f"keys without TTL in {url}"
