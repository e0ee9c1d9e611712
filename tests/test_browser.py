"""The Connect page in a real headless browser: Debian's chromium, driven by Playwright.

One stack per module (gunicorn, a Celery worker, the CLI simulator, with
``VF_REQUIRE_CLIENT_KEY=true``) and one browser; each test gets a fresh browser
context (its own IndexedDB). tests/support/fake_oauth/ plays the sign-in
service for refreshes. Elements are found by the accessible names the page
promises. Screenshots of each state at 1280 and 360 px go to
``.cache/screenshots/`` (or ``VF_SCREENSHOTS``).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser_kit import (
    DUMP_STORAGE,
    MODULE,
    Quiet,
    accessible,
    connected,
    console_errors,
    live_record,
    live_record_state,
    login,
    paste,
    shoot,
    sign_in_link,
    start,
    stored,
)
from tests.support.cli_simulator import FULL_CODE, tokens_for
from tests.support.fake_oauth import FakeOAuthServer, tokens_for_refresh
from tests.support.processes import ROOT, Databases, cli_processes, wait_for
from tests.support.stack import Stack, running_stack

CODE = "page-code-4f2a9d81#page-state-77c1"
WIDTH = 1280
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def stack(databases: Databases, work_root: Path, upstream: FakeOAuthServer,
          host_port: int) -> Iterator[Stack]:
    with running_stack(databases, work_root, "browser", extra_env={
            "VF_REQUIRE_CLIENT_KEY": "true", "VF_TOKEN_URL": upstream.url + "/v1/oauth/token",
            "VF_REFRESH_RATE": "1000/minute",
            "VF_ALLOWED_ORIGINS": f"http://127.0.0.1:{host_port}"}) as running:
        yield running


@pytest.fixture(scope="module")
def host_app(stack: Stack, host_port: int, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[str]:
    """The README's host-app example, served from its own origin, importing from the broker."""
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"<!-- host-app-example.*?-->\n```html\n(.*?)```", readme, re.S)
    assert example, "the README's host-app example is missing"
    folder = tmp_path_factory.mktemp("host-app")
    page = example.group(1).replace("https://broker.example.com", stack.base_url)
    (folder / "index.html").write_text(f"<!doctype html><title>Host app</title>\n{page}")
    server = ThreadingHTTPServer(("127.0.0.1", host_port),
                                 functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{host_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": WIDTH, "height": 860}, locale="en-US",
                              timezone_id="UTC")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page whose console must stay free of errors (a CSP violation is one)."""
    opened = context.new_page()
    errors = console_errors(opened)
    yield opened
    assert errors == []


# --- tests -------------------------------------------------------------------------
def test_the_page_runs_under_its_own_strict_csp(context: BrowserContext, stack: Stack):
    page = context.new_page()  # not the error-watching fixture: a violation is made on purpose
    response = page.goto(stack.url("/"))
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "require-trusted-types-for 'script'" in policy
    assert "'unsafe-inline'" not in policy
    expect(page.get_by_role("button", name="Connect Claude account", exact=True)).to_be_visible()
    # Trusted Types: markup cannot be written into the page, by the page or anyone.
    blocked = page.evaluate("""() => { try { document.body.innerHTML = "<b>x</b>";
        return "written"; } catch (e) { return e.name; } }""")
    assert blocked == "TypeError"
    module = page.request.get(stack.url("/static/vaporforge-connect.js"))
    assert module.headers["access-control-allow-origin"] == "*"
    assert module.headers["content-type"].startswith("text/javascript")
    assert page.request.get(stack.url("/static/index.html")).status == 404


def test_whole_flow_by_accessible_names(page: Page, stack: Stack):
    page.clock.install()
    page.goto(stack.url("/"))
    expect(page.get_by_role("radio", name="Claude subscription", exact=True)).to_be_checked()
    expect(page.get_by_role("radio", name="Anthropic Console", exact=True)).to_be_visible()
    expect(page.get_by_role("radio", name="Long-lived token", exact=True)).to_be_visible()
    shoot(page, "1-choose")
    accessible(page)

    # Time stands still in the page, so the spinner can be seen before the first poll.
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Starting…")
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_be_visible()
    shoot(page, "2-starting")
    page.clock.resume()

    link = sign_in_link(page)
    record = live_record(stack)
    assert link.get_attribute("href") == record.oauth_url  # the CLI's own URL
    assert record.oauth_url.startswith("https://claude.com/cai/oauth/authorize?")
    assert link.get_attribute("target") == "_blank"
    assert set(link.get_attribute("rel").split()) == {"noopener", "noreferrer"}
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_be_visible()
    shoot(page, "3-awaiting-code")
    accessible(page)

    paste(page, "abc")  # the simulator refuses a code without '#', as the CLI does
    expect(page.get_by_role("alert")).to_have_text(FULL_CODE)
    box = page.get_by_label("Code", exact=True)
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(box).to_be_editable()
    shoot(page, "4-invalid-code")
    accessible(page)

    paste(page, CODE)
    connected(page)
    expect(page.get_by_role("alert")).to_have_text("")
    expect(page.get_by_role("button", name="Disconnect", exact=True)).to_be_visible()
    expect(page.get_by_text("renewed automatically")).to_be_visible()
    expect(page.get_by_text("user:inference", exact=True)).to_be_visible()
    shoot(page, "5-connected")
    accessible(page)

    oauth = stored(page)["credentials"]["claudeAiOauth"]
    assert oauth["accessToken"] == tokens_for(CODE)["access"]
    assert oauth["refreshToken"] == tokens_for(CODE)["refresh"]

    page.emulate_media(color_scheme="dark")
    shoot(page, "5-connected-dark")
    accessible(page)


def test_reload_keeps_the_login_sealed_and_disconnect_erases_it(page: Page, stack: Stack):
    code = login(page, stack)
    page.reload()
    connected(page)
    credentials = stored(page)
    assert credentials["mode"] == "oauth"
    assert credentials["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]

    dump = page.evaluate(DUMP_STORAGE)
    for secret in (*tokens_for(code).values(), code):
        assert secret not in dump
    seen = json.loads(dump)
    assert seen["localStorage"] == {} and seen["sessionStorage"] == {}
    keys = [e["value"] for e in seen["idb"] if "cryptoKey" in e["value"]]
    assert keys == [{"cryptoKey": "secret", "extractable": False, "algorithm": "AES-GCM",
                     "usages": ["encrypt", "decrypt"]}]
    assert page.evaluate("""async () => {
        const db = await new Promise(ok => { const r = indexedDB.open("vaporforge-connect");
          r.onsuccess = () => ok(r.result); });
        const key = await new Promise(ok => { const r = db.transaction("sealed")
          .objectStore("sealed").get("key"); r.onsuccess = () => ok(r.result); });
        db.close();
        return crypto.subtle.exportKey("raw", key).then(() => "exported", e => e.name);
    }""") == "InvalidAccessError"

    page.get_by_role("button", name="Disconnect", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        "Disconnected. The credentials were erased from this browser.")
    expect(page.get_by_role("button", name="Connect Claude account", exact=True)).to_be_focused()
    shoot(page, "6-disconnected")
    assert json.loads(page.evaluate(DUMP_STORAGE))["idb"] == []
    assert stored(page) is None
    page.reload()
    expect(page.get_by_role("status")).to_have_text("Not connected")


def test_cancel_at_each_step_ends_the_cli(page: Page, stack: Stack):
    start(page, stack)
    page.get_by_role("button", name="Cancel", exact=True).click()  # while starting
    expect(page.get_by_role("status")).to_have_text("Sign-in cancelled. Nothing was kept.")
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLI to end")

    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    assert cli_processes()
    page.get_by_role("button", name="Cancel", exact=True).click()  # while waiting for the code
    expect(page.get_by_role("status")).to_have_text("Sign-in cancelled. Nothing was kept.")
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLI to end")
    shoot(page, "7-cancelled")
    assert stored(page) is None

    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    page.reload()  # leaving the page mid-flow cancels too (a keepalive DELETE on pagehide)
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLI to end")
    assert live_record_state(stack) == "cancelled"


def test_a_failed_sign_in_is_explained_and_can_be_retried(page: Page, stack: Stack):
    start(page, stack)
    sign_in_link(page)
    paste(page, "will-fail-0123456789#state-0123")  # the simulator's CLI cannot reach the service
    expect(page.get_by_role("alert")).to_have_text(
        "The sign-in could not be finished. Claude Code said: "
        "“Couldn't log in: getaddrinfo ENOTFOUND platform.claude.com”")
    retry = page.get_by_role("button", name="Connect Claude account", exact=True)
    expect(retry).to_be_focused()
    shoot(page, "9-failed")
    accessible(page)
    retry.click()
    sign_in_link(page)
    expect(page.get_by_role("alert")).to_have_text("")
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Sign-in cancelled. Nothing was kept.")


def test_setup_token_by_keyboard_only(page: Page, stack: Stack):
    page.goto(stack.url("/"))
    first = page.get_by_role("radio", name="Claude subscription", exact=True)
    expect(first).to_be_visible()
    page.keyboard.press("Tab")
    expect(first).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    chosen = page.get_by_role("radio", name="Long-lived token", exact=True)
    expect(chosen).to_be_checked()
    ring = "el => getComputedStyle(el.closest('.vf-choice')).outlineStyle"
    assert chosen.evaluate(ring) != "none"  # the focus is visible
    page.keyboard.press("Tab")
    start_button = page.get_by_role("button", name="Connect Claude account", exact=True)
    expect(start_button).to_be_focused()
    assert start_button.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
    page.keyboard.press("Enter")

    expect(sign_in_link(page)).to_be_focused()
    assert live_record(stack).mode.value == "setup-token"
    page.keyboard.press("Tab")
    expect(page.get_by_label("Code", exact=True)).to_be_focused()
    page.keyboard.type(CODE)
    page.keyboard.press("Enter")
    connected(page)
    expect(page.get_by_text("Valid for one year", exact=False)).to_be_visible()
    expect(page.get_by_text("A long-lived token is not renewed")).to_be_visible()
    shoot(page, "8-setup-token-connected")
    accessible(page)

    credentials = stored(page)
    assert credentials["mode"] == "setup-token"
    assert credentials["credentials"] == {"oauth_token": tokens_for(CODE)["access"]}
    refused = page.evaluate(f"{MODULE}.then(m => m.refresh()).catch(e => e.code)")
    assert refused == "no_refresh"
    assert page.evaluate(f"{MODULE}.then(m => m.getAccessToken())") == tokens_for(CODE)["access"]


def test_refresh_moves_expiry_forward_and_stores_the_rotated_token(
        page: Page, stack: Stack, upstream: FakeOAuthServer):
    login(page, stack)
    before = stored(page)["credentials"]["claudeAiOauth"]
    sent = len(upstream.refresh_bodies)
    after = page.evaluate(f"{MODULE}.then(m => m.refresh())")["credentials"]["claudeAiOauth"]

    assert len(upstream.refresh_bodies) == sent + 1
    assert upstream.refresh_bodies[-1]["body"]["refresh_token"] == before["refreshToken"]
    assert upstream.refresh_bodies[-1]["body"]["scope"] == " ".join(before["scopes"])
    rotated = tokens_for_refresh(before["refreshToken"])
    assert after["accessToken"] == rotated["access_token"]
    assert after["refreshToken"] == rotated["refresh_token"]
    assert after["expiresAt"] > before["expiresAt"]
    assert after["refreshTokenExpiresAt"] == before["refreshTokenExpiresAt"]  # not re-issued
    page.reload()
    connected(page)
    assert stored(page)["credentials"]["claudeAiOauth"]["refreshToken"] == rotated["refresh_token"]
    assert page.evaluate(f"{MODULE}.then(m => m.getAccessToken())") == rotated["access_token"]


def test_two_tabs_refreshing_at_once_send_one_request(
        context: BrowserContext, page: Page, stack: Stack, upstream: FakeOAuthServer):
    login(page, stack)
    other = context.new_page()
    other.goto(stack.url("/"))
    connected(other)
    old = stored(page)["credentials"]["claudeAiOauth"]["refreshToken"]
    sent = len(upstream.refresh_bodies)
    kick = f"() => {{ window.done = {MODULE}.then(m => m.refresh()); }}"

    upstream.hold_refreshes()
    try:
        page.evaluate(kick)
        wait_for(lambda: len(upstream.refresh_bodies) == sent + 1, what="the first refresh")
        other.evaluate(kick)
        waiting = "navigator.locks.query().then(q => q.pending.length)"
        wait_for(lambda: other.evaluate(waiting) == 1, what="the second tab to wait")
    finally:
        upstream.release_refreshes()
    token = "() => window.done.then(s => s.credentials.claudeAiOauth.refreshToken)"
    rotated = tokens_for_refresh(old)["refresh_token"]
    assert page.evaluate(token) == rotated
    assert other.evaluate(token) == rotated
    assert len(upstream.refresh_bodies) == sent + 1  # one upstream request for both tabs
    assert stored(other)["credentials"]["claudeAiOauth"]["refreshToken"] == rotated


def test_the_page_renews_five_minutes_before_expiry(
        page: Page, stack: Stack, upstream: FakeOAuthServer):
    page.clock.install()
    login(page, stack)
    before = stored(page)["credentials"]["claudeAiOauth"]
    sent = len(upstream.refresh_bodies)
    page.clock.fast_forward(before["expiresAt"] - page.evaluate("Date.now()") - 6 * 60_000)
    assert len(upstream.refresh_bodies) == sent  # not due yet
    page.clock.fast_forward(2 * 60_000)
    wait_for(lambda: len(upstream.refresh_bodies) == sent + 1, what="the page to renew")
    rotated = tokens_for_refresh(before["refreshToken"])["refresh_token"]
    wait_for(lambda: stored(page)["credentials"]["claudeAiOauth"]["refreshToken"] == rotated,
             what="the renewed set to be stored")
    connected(page)
    # The page's clock is now 8 hours ahead of the server's: the renewed expiry is
    # counted by the page's own clock, so it is not due again at once.
    after = stored(page)["credentials"]["claudeAiOauth"]
    assert after["expiresAt"] - page.evaluate("Date.now()") > 7 * 3600 * 1000
    page.reload()
    connected(page)
    assert len(upstream.refresh_bodies) == sent + 1


def test_the_readme_host_app_example_works_from_another_origin(page: Page, host_app: str):
    page.route("**/sandboxes", lambda route: route.fulfill(status=201, body=""))
    page.goto(host_app)
    page.get_by_role("button", name="Connect Claude").click()
    link = page.get_by_role("link", name="Sign in")
    expect(link).to_have_attribute("href", re.compile(r"^https://claude\.com/cai/oauth/authorize\?"))
    code = f"host-{uuid.uuid4().hex[:12]}#state-{uuid.uuid4().hex[:8]}"
    page.get_by_label("Code").fill(code)
    with page.expect_request("**/sandboxes") as started:
        page.get_by_role("button", name="Submit code").click()
    assert started.value.post_data_json == {"CLAUDE_CODE_OAUTH_TOKEN": tokens_for(code)["access"]}
    dump = page.evaluate(DUMP_STORAGE)  # the host app's origin keeps the sealed set
    assert json.loads(dump)["idb"] and json.loads(dump)["localStorage"] == {}
    for secret in tokens_for(code).values():
        assert secret not in dump
