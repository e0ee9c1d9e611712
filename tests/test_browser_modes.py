"""A Console-only deployment (``VF_MODES=console``) in a real headless browser.

Its own stack (gunicorn, a Celery worker, the CLI simulator): the API refuses the
subscription modes with ``403 mode_not_allowed``, and the Connect page offers the
Console sign-in alone, preselected, with a footer that says so. Elements are found
by the accessible names the page promises (README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser_kit import (
    SHOTS,
    accessible,
    connected,
    console_errors,
    live_record,
    paste,
    shoot,
    sign_in_link,
)
from tests.support.processes import Databases
from tests.support.stack import Stack, running_stack

CODE = "console-code-81c2#console-state-5d"
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def stack(databases: Databases, work_root: Path) -> Iterator[Stack]:
    with running_stack(
            databases, work_root, "browser-modes",
            extra_env={"VF_MODES": "console", "VF_REQUIRE_CLIENT_KEY": "true"}) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US",
                                  timezone_id="UTC")
    opened = context.new_page()
    errors = console_errors(opened)
    yield opened
    context.close()
    assert errors == []


@pytest.mark.parametrize("mode", ["oauth", "setup-token"])
def test_the_api_refuses_the_subscription_modes(page: Page, stack: Stack, mode: str):
    response = page.request.post(stack.url("/api/auth/sessions"),
                                 data=json.dumps({"mode": mode}),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 403
    assert response.json()["error"]["code"] == "mode_not_allowed"
    modes = page.request.get(stack.url("/api/auth/modes"))
    assert modes.json() == {"modes": ["console"]}
    assert modes.headers["cache-control"].startswith("public, max-age=")


def test_the_page_offers_only_the_console_sign_in(page: Page, stack: Stack):
    page.goto(stack.url("/"))
    console = page.get_by_role("radio", name="Anthropic Console", exact=True)
    expect(console).to_be_checked()
    expect(page.get_by_role("radio")).to_have_count(1)
    expect(page.get_by_role("radio", name="Claude subscription", exact=True)).to_have_count(0)
    expect(page.get_by_role("radio", name="Long-lived token", exact=True)).to_have_count(0)
    expect(page.get_by_role("contentinfo")).to_have_text(
        "Account types offered here: Anthropic Console.")
    shoot(page, "console-only-choose")
    assert (SHOTS / "console-only-choose-1280.png").exists()
    accessible(page)

    # The one choice works: a Console login through the simulator, sealed end to end.
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    assert live_record(stack).mode.value == "console"
    paste(page, CODE)
    connected(page)
    expect(page.get_by_text("Anthropic Console", exact=True)).to_be_visible()


def test_connect_without_a_mode_uses_the_first_offered(page: Page, stack: Stack):
    page.goto(stack.url("/"))
    expect(page.get_by_role("radio", name="Anthropic Console", exact=True)).to_be_checked()
    with page.expect_request(lambda r: r.method == "POST" and
                             r.url.endswith("/api/auth/sessions")) as created:
        ended = page.evaluate("""async () => {
          const m = await import('/static/vaporforge-connect.js');
          const controller = new AbortController();
          return m.connect({ signal: controller.signal, onUrl: () => controller.abort() })
            .then(() => "connected", (e) => e.code);
        }""")
    assert created.value.post_data_json["mode"] == "console"
    assert ended == "cancelled"
