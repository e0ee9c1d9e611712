"""Host-authorised logins in chromium: the example host app and the Connect page.

One broker stack with a host key (``VF_HOST_KEYS``), refresh grants, webhooks to
the example host app (``examples/host-app/app.py``, a real Flask process on its
own origin) and the fake sign-in service for refreshes. The host app signs its
demo user in, mints tickets with its host key, embeds
``<vaporforge-connect ticket-url=...>`` from the broker's origin and shows
"connected" once the verified ``login.claimed`` webhook arrives. Elements are
found by accessible names; screenshots go to ``.cache/screenshots/host-*``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser_kit import (
    DUMP_STORAGE,
    console_errors,
    live_record,
    paste,
    shoot,
    sign_in_link,
)
from tests.support.cli_simulator import tokens_for
from tests.support.fake_oauth import FakeOAuthServer, tokens_for_refresh
from tests.support.processes import ROOT, Databases, cli_processes, wait_for
from tests.support.stack import Stack, running_stack
from vaporforge.webhooks import signature

EXAMPLE = ROOT / "examples" / "host-app"
HOST_KEY = "vfhk_" + secrets.token_urlsafe(32)
WEBHOOK_SECRET = secrets.token_urlsafe(32)
USER, PASSWORD = "ada", "lovelace"
TICKET_REQUIRED = ("This broker signs people in only for the app that sent them. Open this "
                   "page from your app's own link to connect your Claude account.")
expect.set_options(timeout=20_000)


def example_webhooks():
    spec = importlib.util.spec_from_file_location("host_app_webhooks", EXAMPLE / "webhooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stack(databases: Databases, work_root: Path, upstream: FakeOAuthServer,
          host_port: int) -> Iterator[Stack]:
    host = f"http://127.0.0.1:{host_port}"
    with running_stack(databases, work_root, "host-app", extra_env={
            "VF_REQUIRE_CLIENT_KEY": "true",
            "VF_HOST_KEYS": f"host-app=sha256:{hashlib.sha256(HOST_KEY.encode()).hexdigest()}",
            "VF_GRANT_KEYS": secrets.token_urlsafe(32),
            "VF_WEBHOOK_URL": f"{host}/vaporforge/webhook", "VF_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VF_ALLOWED_ORIGINS": host, "VF_TOKEN_URL": upstream.url + "/v1/oauth/token",
            "VF_REFRESH_RATE": "1000/minute"}) as running:
        yield running


@pytest.fixture(scope="module")
def host_app(stack: Stack, host_port: int, work_root: Path) -> Iterator[str]:
    """The example host app, run as its README says, on its own origin."""
    url = f"http://127.0.0.1:{host_port}"
    log = open(work_root / "host-app.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "app.py")], stdout=log, stderr=subprocess.STDOUT,
        env={"PATH": "/usr/bin:/bin", "VAPORFORGE_URL": stack.base_url,
             "VAPORFORGE_HOST_KEY": HOST_KEY, "VAPORFORGE_WEBHOOK_SECRET": WEBHOOK_SECRET,
             "HOST_APP_PORT": str(host_port)})
    try:
        wait_for(lambda: _answers(url), what="the example host app")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet
        return False


def mint(stack: Stack, **body) -> str:
    answer = requests.post(stack.url("/api/auth/tickets"), timeout=10,
                           headers={"Authorization": f"Bearer {HOST_KEY}"},
                           json={"end_user": "page-user", **body})
    assert answer.status_code == 201, answer.text
    return answer.json()["ticket"]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context; its console must stay free of errors."""
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 860},
                                                  locale="en-US", timezone_id="UTC")
    opened = context.new_page()
    errors = console_errors(opened)
    yield opened
    context.close()
    # A refused creation (401) is logged by chromium as a failed resource load.
    assert [e for e in errors if "401" not in e] == []


def element_status(page: Page):
    return page.locator("vaporforge-connect").get_by_role("status")


def creations(page: Page) -> list[dict]:
    """Every session creation the page sends, with its headers."""
    seen: list[dict] = []
    page.on("request", lambda r: seen.append(r.headers) if r.method == "POST"
            and r.url.endswith("/api/auth/sessions") else None)
    return seen


# --- the example host app ------------------------------------------------------------
def test_the_example_host_app_connects_its_user(page: Page, stack: Stack, host_app: str,
                                                upstream: FakeOAuthServer):
    sent = creations(page)
    page.goto(host_app)
    page.get_by_label("Name", exact=True).fill(USER)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()
    expect(page.get_by_role("status", name="Claude connection")).to_have_text("not connected")
    shoot(page, "host-1-signed-in")

    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    assert len(sent) == 1 and sent[0]["authorization"].startswith("Bearer ")
    assert live_record(stack).mode.value == "oauth"
    code = f"host-{uuid.uuid4().hex[:12]}#state-{uuid.uuid4().hex[:8]}"
    paste(page, code)
    expect(element_status(page)).to_have_text("Connected")

    # The broker's signed login.claimed reached the host's backend, which checked it;
    # the app lists only the events whose end_user is the signed-in user.
    expect(page.get_by_role("status", name="Claude connection")).to_have_text("connected")
    events = page.get_by_role("list", name="Verified webhook events")
    expect(events).to_contain_text("login.claimed (signature verified)")
    expect(events).to_contain_text("login.created (signature verified)")
    shoot(page, "host-2-connected")

    module = f"import('{stack.base_url}/static/vaporforge-connect.js')"
    stored = page.evaluate(f"{module}.then(m => m.getCredentials({{refreshIfDue: false}}))")
    assert stored["credentials"]["claudeAiOauth"]["accessToken"] == tokens_for(code)["access"]
    grant = stored["refresh_grant"]
    assert isinstance(grant, str) and grant
    dump = page.evaluate(DUMP_STORAGE)  # the grant is sealed with the rest
    assert grant not in dump and tokens_for(code)["refresh"] not in dump

    # A refresh sends the grant, and stores the new one the broker answers.
    renewed = page.evaluate(f"{module}.then(m => m.refresh())")
    rotated = tokens_for_refresh(tokens_for(code)["refresh"])
    assert renewed["credentials"]["claudeAiOauth"]["refreshToken"] == rotated["refresh_token"]
    assert isinstance(renewed["refresh_grant"], str) and renewed["refresh_grant"] != grant
    again = page.evaluate(f"{module}.then(m => m.refresh())")  # the new grant works
    assert again["refresh_grant"] != renewed["refresh_grant"]
    expect(events).to_contain_text("token.refreshed (signature verified)")


def test_disconnect_revokes_the_user_at_the_broker(page: Page, stack: Stack, host_app: str,
                                                   upstream: FakeOAuthServer):
    """The host's Disconnect button: its backend revokes the signed-in user; the
    browser's set is erased, the old grant is refused with grant_revoked (before
    any upstream call) and the page hears token.revoked."""
    page.goto(host_app)
    page.get_by_label("Name", exact=True).fill("grace")
    page.get_by_label("Password", exact=True).fill("hopper")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    paste(page, f"host-{uuid.uuid4().hex[:12]}#state-{uuid.uuid4().hex[:8]}")
    expect(page.get_by_role("status", name="Claude connection")).to_have_text("connected")
    module = f"import('{stack.base_url}/static/vaporforge-connect.js')"
    stored = page.evaluate(f"{module}.then(m => m.getCredentials({{refreshIfDue: false}}))")

    page.get_by_role("button", name="Disconnect Claude", exact=True).click()
    expect(page.get_by_role("status", name="Disconnect result")).to_have_text(
        "Disconnected: your Claude account no longer works through this app.")
    expect(page.get_by_role("status", name="Claude connection")).to_have_text("not connected")
    expect(page.get_by_role("list", name="Verified webhook events")).to_contain_text(
        "token.revoked (signature verified)")
    assert page.evaluate(f"{module}.then(m => m.getCredentials())") is None
    shoot(page, "host-3-disconnected")

    sent = len(upstream.refresh_bodies)
    old = requests.post(stack.url("/api/auth/refresh"), timeout=10,
                        headers={"Authorization": f"Bearer {stored['refresh_grant']}"},
                        json={"refresh_token": stored["credentials"]["claudeAiOauth"]
                              ["refreshToken"]})
    assert (old.status_code, old.json()["error"]["code"]) == (401, "grant_revoked")
    assert len(upstream.refresh_bodies) == sent


def test_a_refresh_refused_as_revoked_erases_the_set_and_says_why(page: Page, stack: Stack):
    """The host revokes from its backend while the browser still holds the set:
    its next refresh is grant_revoked, which ends the set like refresh_rejected."""
    page.goto(f"{stack.base_url}/#ticket={mint(stack, end_user='revoked-user')}")
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    paste(page, f"host-{uuid.uuid4().hex[:12]}#state-{uuid.uuid4().hex[:8]}")
    expect(page.get_by_role("status").first).to_have_text("Connected")
    answer = requests.post(stack.url("/api/auth/revocations"), timeout=10,
                           headers={"Authorization": f"Bearer {HOST_KEY}"},
                           json={"end_user": "revoked-user"})
    assert answer.status_code == 201, answer.text
    module = f"import('{stack.base_url}/static/vaporforge-connect.js')"
    said = page.evaluate(f"""{module}.then(async (m) => {{
        const words = (await import('{stack.base_url}/static/connect-text.js')).plainWords;
        try {{ await m.refresh(); return null; }}
        catch (error) {{ return [error.code, words(error),
                                 await m.getCredentials({{refreshIfDue: false}})]; }}
    }})""")
    assert said == ["grant_revoked", "Your Claude sign-in is no longer accepted here (your app "
                    "disconnected it, or the service had to reset), so it was removed from this "
                    "browser. Connect again.", None]


def test_the_host_app_refuses_forged_webhooks_and_foreign_ticket_requests(
        stack: Stack, host_app: str):
    event = json.dumps({"id": "evt_forged", "type": "login.claimed", "created": 0,
                        "data": {"host": "host-app", "end_user": USER}}).encode()
    stamp = int(time.time())
    good = signature(WEBHOOK_SECRET, stamp, event)  # the broker's own signer
    assert example_webhooks().verify(WEBHOOK_SECRET, good, event)
    for header, body in [(signature("another-secret-0123456789", stamp, event), event),
                         (good, event.replace(b"claimed", b"failed")),
                         (signature(WEBHOOK_SECRET, stamp - 3600, event), event),
                         ("", event)]:
        answer = requests.post(f"{host_app}/vaporforge/webhook", data=body, timeout=10,
                               headers={"VaporForge-Signature": header})
        assert answer.status_code == 400

    # Tickets only for a signed-in user, and only to the app's own pages.
    assert requests.post(f"{host_app}/vaporforge/ticket", timeout=10).status_code == 401
    session = requests.Session()
    session.post(f"{host_app}/signin", data={"name": USER, "password": PASSWORD}, timeout=10)
    foreign = session.post(f"{host_app}/vaporforge/ticket", timeout=10,
                           headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    own = session.post(f"{host_app}/vaporforge/ticket", timeout=10, headers={"Origin": host_app})
    assert own.status_code == 200 and own.json()["ticket"]


def test_a_host_page_whose_backend_gives_no_ticket_says_so(page: Page, host_app: str):
    page.goto(host_app)
    page.get_by_label("Name", exact=True).fill(USER)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text(f"Signed in as {USER}")).to_be_visible()
    page.context.clear_cookies()  # signed out elsewhere: the ticket route answers 401
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(
        "Your app could not start a sign-in just now. Reload the page and try again.")
    assert not cli_processes()


# --- the Connect page with tickets ---------------------------------------------------------
def test_the_page_takes_its_ticket_from_the_address_and_hides_it(page: Page, stack: Stack):
    ticket = mint(stack)
    sent = creations(page)
    page.goto(stack.url(f"/#ticket={ticket}"))
    expect(page.get_by_role("button", name="Connect Claude account", exact=True)).to_be_visible()
    assert page.url == stack.url("/")  # out of the address bar
    assert page.evaluate("history.length") == 2  # about:blank and the page: replaced, not added
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    assert sent[0]["authorization"] == f"Bearer {ticket}"
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(element_status(page)).to_have_text("Sign-in cancelled. Nothing was kept.")
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLI to end")

    # The ticket was used up by that creation: a second attempt says so plainly.
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(
        "This sign-in link has expired or was already used. Go back to your app and start "
        "again from there.")


def test_connect_takes_a_ticket_or_asks_for_one_per_attempt(page: Page, stack: Stack):
    sent = creations(page)
    page.goto(stack.url("/"))
    first, second = mint(stack), mint(stack)
    run = """async ([first, second]) => {
        const m = await import("/static/vaporforge-connect.js");
        const stop = { onUrl: (url, login) => login.cancel() };
        const codes = [];
        await m.connect({ ticket: first, ...stop }).catch((e) => codes.push(e.code));
        const handed = [second, first];  // the second attempt gets a used ticket
        for (let i = 0; i < 2; i++) {
          await m.connect({ getTicket: async () => handed.shift(), ...stop })
            .catch((e) => codes.push(e.code));
        }
        return codes;
    }"""
    assert page.evaluate(run, [first, second]) == ["cancelled", "cancelled", "ticket_invalid"]
    assert [h["authorization"] for h in sent] == [f"Bearer {first}", f"Bearer {second}",
                                                  f"Bearer {first}"]
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLIs to end")


def test_without_a_ticket_the_page_says_so(page: Page, stack: Stack):
    page.goto(stack.url("/"))
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(TICKET_REQUIRED)
    expect(page.get_by_role("button", name="Connect Claude account", exact=True)).to_be_focused()
    shoot(page, "host-3-ticket-required")
    assert not cli_processes()


def test_a_hidden_tab_keeps_polling_every_thirty_seconds(page: Page, stack: Stack):
    """Browsers run a hidden tab's timers about once a minute; the broker ends a
    login not polled for VF_IDLE_TIMEOUT (180 s). Hidden, the page polls each 30 s."""
    polls: list[int] = []
    page.on("request", lambda r: polls.append(1) if r.method == "GET"
            and "/api/auth/sessions/" in r.url else None)
    page.clock.install()
    page.goto(stack.url(f"/#ticket={mint(stack)}"))
    page.get_by_role("button", name="Connect Claude account", exact=True).click()
    sign_in_link(page)
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        Object.defineProperty(document, "visibilityState", {configurable: true,
          get: () => "hidden"});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)  # time moves only when told
    gaps = []
    for _ in range(4):  # two minutes hidden
        before, waited = len(polls), 0
        while len(polls) == before and waited <= 90_000:
            page.clock.run_for(1000)
            page.wait_for_timeout(10)  # the poll's answer arrives in real time
            waited += 1000
        gaps.append(waited)
    # Each gap is counted from the previous poll's request, in 1 s steps.
    assert all(20_000 <= gap <= 60_000 for gap in gaps[1:]), gaps
    assert gaps[0] <= 60_000, gaps
    page.get_by_role("button", name="Cancel", exact=True).click()
    wait_for(lambda: not cli_processes(), timeout=20, what="the CLI to end")
