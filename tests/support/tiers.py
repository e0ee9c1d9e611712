"""Which tier each test is in, read from what it uses, so no test file has to
say it: ``stack`` (it starts the broker's processes: the ``stack`` fixture, or
its module calls :func:`tests.support.start_stack`) and ``browser`` (it drives
chromium: the ``browser`` fixture). ``make test-quick`` leaves out these and
the ``docker`` and ``realcli`` tests; the README's test command runs them all."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests.support.stack import start_stack


def mark_tiers(items: Iterable[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        module = getattr(item, "module", None)
        if "stack" in fixtures or getattr(module, "start_stack", None) is start_stack:
            item.add_marker(pytest.mark.stack)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
