"""Revocation and reuse detection on the real stack: gunicorn and Celery workers
with host keys and grant keys, the CLI simulator as the CLI, the stand-in
sign-in service as the relay's upstream and a loopback webhook receiver.
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
from tests.support.processes import Databases, cli_processes, wait_for
from tests.support.stack import Stack, running_stack
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.webhooks import HEADER, verify_signature

HOST_SECRET = new_secret()
WEBHOOK_SECRET = "whsec-" + "r" * 32


class Receiver(BaseHTTPRequestHandler):
    """The host's webhook endpoint: keeps every verified event, answers 204."""

    events: list[dict] = []

    def log_message(self, *_: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if verify_signature(WEBHOOK_SECRET, self.headers.get(HEADER, ""), body):
            Receiver.events.append(json.loads(body))
        self.send_response(204)
        self.end_headers()


def heard(kind: str, **data: str) -> list[dict]:
    return [e for e in list(Receiver.events) if e["type"] == kind
            and all(e["data"].get(k) == v for k, v in data.items())]


@pytest.fixture(scope="module")
def hosted(databases: Databases, work_root: Path,
           upstream: FakeOAuthServer) -> Iterator[Stack]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"VF_HOST_KEYS": entry_for("acme", HOST_SECRET), "VF_GRANT_KEYS": "v" * 43,
           "VF_WEBHOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/hooks",
           "VF_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "VF_TOKEN_URL": upstream.url + "/v1/oauth/token"}
    with running_stack(databases, work_root, "revocation", extra_env=env) as running:
        yield running
    server.shutdown()
    server.server_close()


def as_host(stack: Stack, path: str, **body: object) -> requests.Response:
    return requests.post(stack.url(path), timeout=10, json=body,
                         headers={"Authorization": f"Bearer {HOST_SECRET}"})


def create(stack: Stack, end_user: str) -> dict:
    ticket = as_host(stack, "/api/auth/tickets", end_user=end_user).json()["ticket"]
    return stack.create("oauth", headers={"Authorization": f"Bearer {ticket}"})


def claimed(stack: Stack, end_user: str, code: str) -> tuple[dict, str, str]:
    """A whole login of ``end_user``: the session, its refresh token and grant."""
    session = create(stack, end_user)
    stack.wait_state(session, "awaiting_code")
    assert stack.call("POST", session, "/code", json={"code": code}).status_code == 202
    stack.wait_state(session, "ready")
    body = stack.call("POST", session, "/credentials").json()
    return session, body["credentials"]["claudeAiOauth"]["refreshToken"], body["refresh_grant"]


def refresh(stack: Stack, token: str, grant: str) -> requests.Response:
    return requests.post(stack.url("/api/auth/refresh"), timeout=30, json={
        "refresh_token": token}, headers={"Authorization": f"Bearer {grant}"})


def code_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json().get("error", {}).get("code", "ok")


def cli_of(stack: Stack, session: dict) -> list[int]:
    return cli_processes(within=stack.work_dir / f"vf-{session['session_id']}.")


def test_a_revocation_refuses_the_grant_and_ends_the_live_login(hosted, upstream):
    _, token, grant = claimed(hosted, "leaver", "revocation-code-0001#state-0001")
    live = create(hosted, "leaver")  # a second login, waiting for its code
    hosted.wait_state(live, "awaiting_code")
    wait_for(lambda: cli_of(hosted, live), what="the live login's CLI")

    answer = as_host(hosted, "/api/auth/revocations", end_user="leaver")
    assert answer.status_code == 201, answer.text
    assert answer.json()["cancelled"] == [live["session_id"]]
    ended = hosted.status(live)
    assert (ended["state"], ended["error"]["code"]) == ("cancelled", "revoked")
    wait_for(lambda: not cli_of(hosted, live), timeout=10, what="the live login's CLI to stop")

    sent = len(upstream.refresh_bodies)
    assert code_of(refresh(hosted, token, grant)) == (401, "grant_revoked")
    assert len(upstream.refresh_bodies) == sent
    wait_for(lambda: heard("token.revoked", end_user="leaver"), timeout=30, what="token.revoked")
    wait_for(lambda: heard("login.cancelled", session_id=live["session_id"]), timeout=30,
             what="login.cancelled")
    assert heard("login.cancelled", session_id=live["session_id"])[0]["data"][
        "error_code"] == "revoked"


def test_a_reused_grant_is_refused_and_the_host_is_told(hosted, upstream):
    session, token, grant = claimed(hosted, "copied", "reuse-code-0001#state-0001")
    first = refresh(hosted, token, grant)
    assert first.status_code == 200, first.text
    sent = len(upstream.refresh_bodies)
    assert code_of(refresh(hosted, token, grant)) == (401, "grant_reused")
    rotated = first.json()
    assert code_of(refresh(hosted, rotated["claudeAiOauth"]["refreshToken"],
                           rotated["refresh_grant"])) == (401, "grant_revoked")
    assert len(upstream.refresh_bodies) == sent
    found = wait_for(lambda: heard("token.reuse_detected", end_user="copied"), timeout=30,
                     what="token.reuse_detected")
    assert found[0]["data"] == {"host": "acme", "end_user": "copied",
                                "session_id": session["session_id"], "mode": "oauth",
                                "error_code": "grant_reused"}
