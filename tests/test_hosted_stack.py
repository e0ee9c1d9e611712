"""Host-authorised logins on the real stack: gunicorn and Celery
workers with host keys, grant keys and a webhook to a loopback receiver; the
CLI simulator as the CLI.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support.cli_simulator import tokens_for
from tests.support.fake_oauth import FakeOAuthServer
from tests.support.processes import Databases, cli_processes, wait_for
from tests.support.stack import Stack, running_stack
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.webhooks import HEADER, verify_signature

HOST_SECRET = new_secret()
WEBHOOK_SECRET = "whsec-" + "s" * 32


class Receiver(BaseHTTPRequestHandler):
    """The host's webhook endpoint: answers 500 to the first ``failures`` attempts
    of each event id, then 200; keeps every attempt (body bytes, signature)."""

    attempts: list[tuple[bytes, str]] = []
    failures = 2

    def log_message(self, *_: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.attempts.append((body, self.headers.get(HEADER, "")))
        event_id = json.loads(body)["id"]
        seen = sum(1 for b, _ in Receiver.attempts if json.loads(b)["id"] == event_id)
        self.send_response(500 if seen <= Receiver.failures else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    @classmethod
    def events(cls, kind: str) -> list[tuple[dict, bytes, str]]:
        return [(json.loads(b), b, s) for b, s in list(cls.attempts)
                if json.loads(b)["type"] == kind]


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


IDLE_TIMEOUT = 4
"""VF_IDLE_TIMEOUT of this stack: small, so that an abandoned login ends within the test."""


@pytest.fixture(scope="module")
def hosted(databases: Databases, work_root: Path, receiver: str,
           upstream: FakeOAuthServer) -> Iterator[Stack]:
    env = {"VF_HOST_KEYS": entry_for("acme", HOST_SECRET), "VF_GRANT_KEYS": "g" * 43,
           "VF_WEBHOOK_URL": receiver, "VF_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "VF_IDLE_TIMEOUT": str(IDLE_TIMEOUT), "VF_TOKEN_URL": upstream.url + "/v1/oauth/token"}
    with running_stack(databases, work_root, "hosted", extra_env=env) as running:
        yield running


def mint(stack: Stack, end_user: str, **body: object) -> str:
    response = requests.post(stack.url("/api/auth/tickets"), timeout=10,
                             json={"end_user": end_user, **body},
                             headers={"Authorization": f"Bearer {HOST_SECRET}"})
    assert response.status_code == 201, response.text
    return str(response.json()["ticket"])


def create(stack: Stack, end_user: str, mode: str = "oauth") -> dict:
    return stack.create(mode, headers={"Authorization": f"Bearer {mint(stack, end_user)}"})


def test_a_webhook_that_fails_twice_is_retried_until_it_accepts_a_signed_event(hosted):
    session = create(hosted, "hook-user")
    sid = session["session_id"]

    def delivered() -> list:
        return [e for e in Receiver.events("login.created") if e[0]["data"]["session_id"] == sid]

    wait_for(lambda: len(delivered()) >= 3, timeout=30,
             what="the third attempt of login.created (backoff 1 s, then 2 s)")
    attempts = delivered()
    event = attempts[0][0]
    assert {a[0]["id"] for a in attempts} == {event["id"]}  # one event, retried
    assert event["data"] == {"host": "acme", "end_user": "hook-user", "session_id": sid,
                             "mode": "oauth"}
    assert set(event) == {"id", "type", "created", "data"}
    for _, body, signature in attempts:
        assert verify_signature(WEBHOOK_SECRET, signature, body)
        assert not verify_signature("another-secret-of-16+", signature, body)
    audit = [json.loads(line) for line in hosted.logs().splitlines()
             if '"vaporforge.audit"' in line]
    assert [json.loads(a["message"]) for a in audit if event["id"] in a["message"]] == [event]
    assert hosted.call("DELETE", session).status_code == 204


def cli_of(stack: Stack, session: dict) -> list[int]:
    """The CLI processes of one session (its HOME is named after the session id)."""
    return cli_processes(within=stack.work_dir / f"vf-{session['session_id']}.")


def delivered(kind: str, session: dict) -> list[dict]:
    return [e for e, _, _ in Receiver.events(kind)
            if e["data"]["session_id"] == session["session_id"]]


def test_a_new_login_of_the_same_user_supersedes_the_older_and_stops_its_cli(hosted):
    older = create(hosted, "reloader")
    hosted.wait_state(older, "awaiting_code")
    wait_for(lambda: cli_of(hosted, older), what="the older login's CLI")
    newer = create(hosted, "reloader")
    ended = hosted.status(older)
    assert (ended["state"], ended["error"]["code"]) == ("cancelled", "superseded")
    wait_for(lambda: not cli_of(hosted, older), timeout=10, what="the older CLI to stop")
    assert hosted.wait_state(newer, "awaiting_code")["state"] == "awaiting_code"
    wait_for(lambda: delivered("login.cancelled", older), timeout=30,
             what="login.cancelled for the older login")
    assert delivered("login.cancelled", older)[0]["data"]["error_code"] == "superseded"
    other_user = create(hosted, "someone-else")  # another user's login is left alone
    assert hosted.status(newer)["state"] == "awaiting_code"
    for session in (newer, other_user):
        assert hosted.call("DELETE", session).status_code == 204


def test_an_unpolled_login_is_abandoned_and_its_cli_stops(hosted):
    session = create(hosted, "wanderer")
    hosted.wait_state(session, "awaiting_code")
    wait_for(lambda: cli_of(hosted, session), what="the CLI")
    # Nobody polls now: the worker's own wait ends it after VF_IDLE_TIMEOUT.
    wait_for(lambda: not cli_of(hosted, session), timeout=IDLE_TIMEOUT + 15,
             what="the abandoned login's CLI to stop without any poll")
    status = hosted.status(session)
    assert (status["state"], status["error"]["code"]) == ("failed", "abandoned")
    wait_for(lambda: delivered("login.failed", session), timeout=30, what="login.failed")
    assert delivered("login.failed", session)[0]["data"]["error_code"] == "abandoned"


def test_a_polled_login_is_not_abandoned(hosted):
    session = create(hosted, "patient")
    hosted.wait_state(session, "awaiting_code")
    for _ in range(IDLE_TIMEOUT * 3):  # polls every second, over three idle bounds
        assert hosted.status(session)["state"] == "awaiting_code"
        threading.Event().wait(1)
    assert hosted.call("DELETE", session).status_code == 204


def test_a_hosted_login_claims_a_grant_that_the_relay_honours_once(hosted):
    session = create(hosted, "claimer")
    hosted.wait_state(session, "awaiting_code")
    code = "hosted-authorization-code-0001#state-0001"
    assert hosted.call("POST", session, "/code", json={"code": code}).status_code == 202
    hosted.wait_state(session, "ready")
    claimed = hosted.call("POST", session, "/credentials").json()
    grant = claimed["refresh_grant"]
    token = claimed["credentials"]["claudeAiOauth"]["refreshToken"]
    assert token == tokens_for(code)["refresh"]

    def refresh(refresh_token: str, with_grant: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {with_grant}"} if with_grant else {}
        return requests.post(hosted.url("/api/auth/refresh"), timeout=30, headers=headers,
                             json={"refresh_token": refresh_token})

    assert refresh(token, None).json()["error"]["code"] == "grant_required"
    first = refresh(token, grant)
    assert first.status_code == 200, first.text
    rotated = first.json()["claudeAiOauth"]["refreshToken"]
    assert refresh(rotated, grant).json()["error"]["code"] == "grant_invalid"
    assert refresh(rotated, first.json()["refresh_grant"]).status_code == 200
    for kind in ("login.created", "login.ready", "login.claimed"):
        wait_for(lambda kind=kind: delivered(kind, session), timeout=30, what=kind)
    refreshed = wait_for(lambda: [e for e, _, _ in Receiver.events("token.refreshed")
                                  if e["data"]["end_user"] == "claimer"],
                         timeout=30, what="token.refreshed")
    assert refreshed[0]["data"]["session_id"] == session["session_id"]
    assert all(token not in b.decode() and code not in b.decode()
               for b, _ in Receiver.attempts)
