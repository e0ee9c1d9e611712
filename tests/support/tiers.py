"""Which tier each test is in, read from what it uses, so no test file has to
say it: ``stack`` (it starts the broker's processes: the ``stack`` fixture, or
its module imports :func:`tests.support.stack.running_stack`) and ``browser``
(it drives chromium: the ``browser`` fixture). ``make test-quick`` leaves out
these and the ``docker`` and ``realcli`` tests; the README's test command runs
them all. :func:`docker_tests` is the one reading of ``VF_DOCKER_TESTS``."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pytest

from tests.support.stack import running_stack


def docker_tests() -> bool:
    """Whether the tests on a real Docker engine run: ``VF_DOCKER_TESTS=1``."""
    return os.environ.get("VF_DOCKER_TESTS") == "1"


def require_docker() -> None:
    """Skip the calling module (or test) unless :func:`docker_tests`."""
    if not docker_tests():
        pytest.skip("VF_DOCKER_TESTS=1 runs the Docker tests", allow_module_level=True)


def mark_tiers(items: Iterable[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        module = getattr(item, "module", None)
        if "stack" in fixtures or getattr(module, "running_stack", None) is running_stack:
            item.add_marker(pytest.mark.stack)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
