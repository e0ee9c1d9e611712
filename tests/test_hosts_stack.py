"""Two hosts on one broker (``VF_HOSTS_FILE``), on the real stack: gunicorn and a
Celery worker, each host's webhook a loopback receiver of its own, the CLI
simulator as the CLI and the stand-in sign-in service behind the relay.

``app1`` offers every mode, to any origin, with its secret in an environment
variable; ``app2`` is Console-only, only from ``https://app2.example``, with two
keys (a rotation) and its secret in a file. Their per-user limits differ, and
both have a user called ``alice``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support.fake_oauth import FakeOAuthServer
from tests.support.processes import Databases, wait_for
from tests.support.stack import Stack, running_stack
from vaporforge.hostkeys import digest_of, new_secret
from vaporforge.webhooks import HEADER, verify_signature

APP1_KEY = new_secret()
APP2_OLD_KEY, APP2_KEY = new_secret(), new_secret()
APP1_SECRET = "app1-webhook-secret-" + "1" * 16
APP2_SECRET = "app2-webhook-secret-" + "2" * 16
APP2_ORIGIN = "https://app2.example"
KEYS = {"app1": APP1_KEY, "app2": APP2_KEY}
HEADERS = {"app1": {}, "app2": {"Origin": APP2_ORIGIN}}


class Receiver:
    """One host's webhook endpoint: answers 200 and keeps every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[bytes, str]] = []
        attempts = self.attempts

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                attempts.append((body, self.headers.get(HEADER, "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self) -> list[dict]:
        return [json.loads(body) for body, _ in list(self.attempts)]

    def has(self, kind: str, session: dict) -> bool:
        return any(e["type"] == kind and e["data"]["session_id"] == session["session_id"]
                   for e in self.events())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, Receiver]]:
    found = {"app1": Receiver(), "app2": Receiver()}
    yield found
    for receiver in found.values():
        receiver.close()


def hosts_toml(receivers: dict[str, Receiver], secret_file: Path) -> str:
    return f"""\
[hosts.app1]
keys = ["sha256:{digest_of(APP1_KEY).hex()}"]
webhook_url = "{receivers['app1'].url}"
webhook_secret_env = "APP1_WEBHOOK_SECRET"
user_create_rate = "3/hour"
user_refresh_rate = "100/hour"

[hosts.app2]
keys = ["sha256:{digest_of(APP2_OLD_KEY).hex()}", "sha256:{digest_of(APP2_KEY).hex()}"]
webhook_url = "{receivers['app2'].url}"
webhook_secret_file = "{secret_file}"
origins = ["{APP2_ORIGIN}"]
modes = ["console"]
user_create_rate = "1/hour"
user_refresh_rate = "1/hour"
"""


@pytest.fixture(scope="module")
def two_hosts(databases: Databases, work_root: Path, receivers: dict[str, Receiver],
              upstream: FakeOAuthServer) -> Iterator[Stack]:
    folder = work_root / "two-hosts-config"
    folder.mkdir(exist_ok=True)
    secret_file = folder / "app2-webhook-secret"
    secret_file.write_text(APP2_SECRET + "\n")
    hosts_file = folder / "hosts.toml"
    hosts_file.write_text(hosts_toml(receivers, secret_file))
    env = {"VF_HOSTS_FILE": str(hosts_file), "APP1_WEBHOOK_SECRET": APP1_SECRET,
           "VF_GRANT_KEYS": "g" * 43, "VF_TOKEN_URL": upstream.url + "/v1/oauth/token"}
    with running_stack(databases, work_root, "two-hosts", extra_env=env) as running:
        yield running


def mint(stack: Stack, host: str, end_user: str, key: str | None = None,
         **body: object) -> requests.Response:
    return requests.post(stack.url("/api/auth/tickets"), timeout=10,
                         json={"end_user": end_user, **body},
                         headers={"Authorization": f"Bearer {key or KEYS[host]}"})


def ticket(stack: Stack, host: str, end_user: str, **body: object) -> str:
    response = mint(stack, host, end_user, **body)
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


def create(stack: Stack, host: str, end_user: str, mode: str | None,
           **headers: str) -> requests.Response:
    return requests.post(stack.url("/api/auth/sessions"), timeout=10,
                         json={} if mode is None else {"mode": mode},
                         headers={"Authorization": f"Bearer {ticket(stack, host, end_user)}",
                                  **HEADERS[host], **headers})


def error_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def claimed_login(stack: Stack, host: str, end_user: str, mode: str,
                  code: str) -> tuple[dict, dict]:
    """A whole login of ``end_user`` at ``host``: the session and the claim."""
    created = create(stack, host, end_user, mode)
    assert created.status_code == 202, created.text
    session = created.json()
    stack.wait_state(session, "awaiting_code")
    assert stack.call("POST", session, "/code", json={"code": code}).status_code == 202
    stack.wait_state(session, "ready")
    claim = stack.call("POST", session, "/credentials")
    assert claim.status_code == 200, claim.text
    return session, claim.json()


def refresh(stack: Stack, claim: dict) -> requests.Response:
    """One refresh with the claim's (or the last refresh's) token and grant."""
    oauth = claim.get("claudeAiOauth") or claim["credentials"]["claudeAiOauth"]
    return requests.post(stack.url("/api/auth/refresh"), timeout=30,
                         headers={"Authorization": f"Bearer {claim['refresh_grant']}"},
                         json={"refresh_token": oauth["refreshToken"]})


def test_each_host_hears_only_its_own_events_signed_with_its_own_secret(two_hosts, receivers):
    # Both hosts have a user called alice; each login goes as far as a refresh.
    first, claim1 = claimed_login(two_hosts, "app1", "alice", "oauth",
                                  "app1-authorization-code-0001#state-0001")
    second, claim2 = claimed_login(two_hosts, "app2", "alice", "console",
                                   "app2-authorization-code-0001#state-0001")
    assert refresh(two_hosts, claim1).status_code == 200
    assert refresh(two_hosts, claim2).status_code == 200
    mine = {"app1": first, "app2": second}
    for host, receiver in receivers.items():
        for kind in ("login.created", "login.ready", "login.claimed"):
            wait_for(lambda r=receiver, k=kind, h=host: r.has(k, mine[h]), timeout=30,
                     what=f"{kind} at {host}'s receiver")
        wait_for(lambda r=receiver: any(e["type"] == "token.refreshed" for e in r.events()),
                 timeout=30, what=f"token.refreshed at {host}'s receiver")
    secrets = {"app1": APP1_SECRET, "app2": APP2_SECRET}
    for host, receiver in receivers.items():
        other = "app2" if host == "app1" else "app1"
        assert {e["data"]["host"] for e in receiver.events()} == {host}
        assert not any(e["data"]["session_id"] == mine[other]["session_id"]
                       for e in receiver.events())
        for body, signature in receiver.attempts:
            assert verify_signature(secrets[host], signature, body)
            assert not verify_signature(secrets[other], signature, body)


def test_a_console_only_host_cannot_start_oauth(two_hosts):
    refused = create(two_hosts, "app2", "carol", "oauth")
    assert error_of(refused) == (403, "mode_not_allowed")
    assert error_of(mint(two_hosts, "app2", "carol", modes=["oauth"])) == (
        403, "mode_not_allowed")
    # A ticket asked for more than the host offers allows only what the host offers.
    wide = ticket(two_hosts, "app2", "carol", modes=["oauth", "console"])
    assert error_of(requests.post(
        two_hosts.url("/api/auth/sessions"), timeout=10, json={"mode": "oauth"},
        headers={"Authorization": f"Bearer {wide}", **HEADERS["app2"]})) == (
        403, "mode_not_allowed")
    # Without a mode the creation takes the host's: console, where app1's first is oauth.
    started = create(two_hosts, "app2", "carol", None)
    assert started.status_code == 202, started.text
    assert started.json()["mode"] == "console"
    assert two_hosts.call("DELETE", started.json()).status_code == 204
    other = create(two_hosts, "app1", "carol", None)
    assert other.status_code == 202 and other.json()["mode"] == "oauth"
    assert two_hosts.call("DELETE", other.json()).status_code == 204


def test_a_host_s_ticket_is_used_only_from_its_origins_and_both_rotated_keys_mint(two_hosts):
    assert mint(two_hosts, "app2", "dave", key=APP2_OLD_KEY).status_code == 201
    assert error_of(mint(two_hosts, "app2", "dave", origin="https://app1.example")) == (
        403, "origin_not_allowed")
    for origin in ("https://app1.example", ""):
        headers = {"Origin": origin} if origin else {}
        response = requests.post(
            two_hosts.url("/api/auth/sessions"), timeout=10, json={"mode": "console"},
            headers={"Authorization": f"Bearer {ticket(two_hosts, 'app2', 'dave')}", **headers})
        assert error_of(response) == (403, "origin_not_allowed")
    # app1 lists no origins: any, or none, as with the single-host variables.
    anywhere = create(two_hosts, "app1", "dave", "console", Origin="https://elsewhere.example")
    assert anywhere.status_code == 202, anywhere.text
    assert two_hosts.call("DELETE", anywhere.json()).status_code == 204


def test_each_host_has_its_own_per_user_limits(two_hosts):
    # app2: one creation per user an hour; the same user id at app1 keeps its own three.
    first = create(two_hosts, "app2", "bob", "console")
    assert first.status_code == 202, first.text
    assert error_of(create(two_hosts, "app2", "bob", "console")) == (429, "rate_limited")
    sessions = [create(two_hosts, "app1", "bob", "oauth") for _ in range(3)]
    assert [s.status_code for s in sessions] == [202, 202, 202]
    assert error_of(create(two_hosts, "app1", "bob", "oauth")) == (429, "rate_limited")
    for session in (first, *sessions):
        two_hosts.call("DELETE", session.json())


def test_each_host_has_its_own_per_user_refresh_limit(two_hosts):
    _, claim1 = claimed_login(two_hosts, "app1", "erin", "console",
                              "app1-authorization-code-0002#state-0002")
    _, claim2 = claimed_login(two_hosts, "app2", "erin", "console",
                              "app2-authorization-code-0002#state-0002")
    answer = refresh(two_hosts, claim2)
    assert answer.status_code == 200, answer.text
    assert error_of(refresh(two_hosts, answer.json())) == (429, "rate_limited")  # 1/hour
    for _ in range(3):  # app1's 100/hour
        answer = refresh(two_hosts, claim1)
        assert answer.status_code == 200, answer.text
        claim1 = answer.json()
