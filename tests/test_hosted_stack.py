"""Host-authorised logins on the real stack (issue 15): gunicorn and Celery
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

from tests.support.processes import Databases, wait_for
from tests.support.stack import Stack, start_stack, stop_stack
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


@pytest.fixture(scope="module")
def hosted(databases: Databases, work_root: Path, receiver: str) -> Iterator[Stack]:
    env = {"VF_HOST_KEYS": entry_for("acme", HOST_SECRET), "VF_GRANT_KEYS": "g" * 43,
           "VF_WEBHOOK_URL": receiver, "VF_WEBHOOK_SECRET": WEBHOOK_SECRET}
    running = start_stack(databases.allocate(), work_root, "hosted", extra_env=env)
    yield running
    stop_stack(running)
    databases.release(running.redis_url)


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
