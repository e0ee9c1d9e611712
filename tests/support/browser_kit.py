"""What the browser tests share: finding the page's parts by name, screenshots, axe.

Elements are found by the accessible names the page promises (README).
"""

from __future__ import annotations

import os
import shutil
import uuid
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest
import redis
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.support.processes import ROOT, wait_for
from tests.support.stack import Stack
from vaporforge.session.record import SessionRecord
from vaporforge.session.store import SessionStore

SHOTS = Path(os.environ.get("VF_SCREENSHOTS") or ROOT / ".cache" / "screenshots")
WIDTHS = (1280, 360)
MODULE = "import('/static/vaporforge-connect.js')"
AXE = Axe()


def chromium_path() -> str:
    found = os.environ.get("VF_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("Debian's chromium is not installed: run scripts/install-browser.sh")
    return found


def console_errors(page: Page) -> list[str]:
    """The list that collects ``page``'s console errors and uncaught exceptions
    (a CSP violation is one) from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


class Quiet(SimpleHTTPRequestHandler):
    """A static file server that writes no access log."""

    def log_message(self, *args: object) -> None:
        pass


def shoot(page: Page, name: str) -> None:
    """The current state at each width (full page), then back to the first width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover styles in the pictures
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 860})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True,
                        animations="disabled", caret="initial")
    page.set_viewport_size({"width": WIDTHS[0], "height": 860})


def accessible(page: Page) -> None:
    results = AXE.run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, results.generate_report()


def live_record(stack: Stack) -> SessionRecord:
    store = SessionStore(redis.Redis.from_url(stack.redis_url, decode_responses=True))
    ids = wait_for(store.live_session_ids, what="a live session")
    assert len(ids) == 1
    record = store.get(next(iter(ids)))
    assert record is not None
    return record


def live_record_state(stack: Stack) -> str:
    """The state of the one session this stack has seen most recently."""
    store = SessionStore(redis.Redis.from_url(stack.redis_url, decode_responses=True))
    records = [r for r in map(store.get, _session_ids(stack)) if r is not None]
    return max(records, key=lambda r: r.updated_at).state.value


def _session_ids(stack: Stack) -> list[str]:
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    return [key.rsplit(":", 1)[1] for key in client.scan_iter("vf:session:*")]


def start(page: Page, stack: Stack, mode: str = "Claude subscription") -> None:
    page.goto(stack.url("/"))
    page.get_by_role("radio", name=mode, exact=True).check()
    page.get_by_role("button", name="Connect Claude account", exact=True).click()


def sign_in_link(page: Page) -> Locator:
    link = page.get_by_role("link", name="Open the sign-in page", exact=True)
    expect(link).to_be_visible()
    return link


def paste(page: Page, code: str) -> None:
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Submit code", exact=True).click()


def connected(page: Page) -> None:
    expect(page.get_by_role("status")).to_have_text("Connected")


def login(page: Page, stack: Stack) -> str:
    """A whole login with a code of its own (refresh tokens rotate); returns the code."""
    code = f"login-{uuid.uuid4().hex[:12]}#state-{uuid.uuid4().hex[:8]}"
    start(page, stack)
    sign_in_link(page)
    paste(page, code)
    connected(page)
    return code


def stored(page: Page) -> dict | None:
    return page.evaluate(f"{MODULE}.then(m => m.getCredentials({{refreshIfDue: false}}))")


DUMP_STORAGE = """async () => {
  const bytes = (v) => String.fromCharCode(...new Uint8Array(v.buffer || v));
  const plain = (v) => {
    if (v instanceof CryptoKey) return {cryptoKey: v.type, extractable: v.extractable,
      algorithm: v.algorithm.name, usages: v.usages};
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return {bytes: bytes(v)};
    if (v && typeof v === "object") return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  const request = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result);
    r.onerror = () => no(r.error); });
  const out = {localStorage: {...localStorage}, sessionStorage: {...sessionStorage}, idb: []};
  for (const info of await indexedDB.databases()) {
    const db = await request(indexedDB.open(info.name));
    for (const name of db.objectStoreNames) {
      const store = db.transaction(name).objectStore(name);
      const [keys, values] = [await request(store.getAllKeys()), await request(store.getAll())];
      values.forEach((v, i) => out.idb.push({db: info.name, store: name, key: keys[i],
        value: plain(v)}));
    }
    db.close();
  }
  return JSON.stringify(out);
}"""
