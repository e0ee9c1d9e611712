"""The refresh relay serves only this broker's logins, and its
upstream call is bounded in time and size.

The API in-process on the real redis-server; tests/fake_oauth_server.py as the
sign-in service, and small loopback servers of our own for the misbehaving
upstreams (one that drips, one that answers too much or an absurd lifetime).
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask.testing import FlaskClient

from api import create_app
from tests.support.fake_oauth import FakeOAuthServer
from tests.support.processes import wait_for
from tests.support.recording_sink import RecordingSink
from vaporforge import grants
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.settings import Settings

SCOPE = "user:profile user:inference"
GRANT_KEY, OTHER_KEY = "g" * 43, "o" * 43


def settings_for(redis_db: str, token_url: str, **more: object) -> Settings:
    env = {"VF_HOST_KEYS": entry_for("acme", new_secret()), "VF_GRANT_KEYS": GRANT_KEY,
           "REDIS_URL": redis_db, "VF_TOKEN_URL": token_url, "VF_REFRESH_RATE": "1000/minute",
           "VF_KEY_PREFIX": f"grants-{uuid.uuid4().hex[:8]}"}
    return Settings.from_env({**env, **{k: str(v) for k, v in more.items()}})


def app_for(settings: Settings) -> tuple[FlaskClient, RecordingSink]:
    app = create_app({"SETTINGS": settings})
    sink = RecordingSink()
    context = app.extensions["vaporforge"]
    app.extensions["vaporforge"] = type(context)(**{**context.__dict__, "events": sink})
    return app.test_client(), sink


@pytest.fixture
def relay(redis_db: str, upstream: FakeOAuthServer) -> tuple[FlaskClient, RecordingSink, Settings]:
    settings = settings_for(redis_db, upstream.url + "/v1/oauth/token")
    client, sink = app_for(settings)
    return client, sink, settings


def new_refresh_token() -> str:
    return "sk-ant-ort01-" + uuid.uuid4().hex * 2


def grant_for(settings: Settings, token: str, keys: tuple[bytes, ...] | None = None,
              ttl: int = 3600, host: str = "acme") -> str:
    return grants.issue(keys or settings.grant_keys,
                        grants.Grant(host, "user-1", "oauth", tuple(SCOPE.split()), "sid-1"),
                        token, ttl)


def refresh(client: FlaskClient, token: str, grant: str | None, scope: str | None = None):
    body = {"refresh_token": token, **({"scope": scope} if scope else {})}
    headers = {"Authorization": f"Bearer {grant}"} if grant else {}
    return client.post("/api/auth/refresh", json=body, headers=headers)


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


def test_the_relay_without_a_grant_is_refused_before_going_upstream(relay, upstream):
    client, _, _ = relay
    sent = len(upstream.refresh_bodies)
    assert error_of(refresh(client, new_refresh_token(), None)) == (401, "grant_required")
    assert len(upstream.refresh_bodies) == sent


def test_another_tokens_grant_is_invalid(relay, upstream):
    client, _, settings = relay
    mine, theirs = new_refresh_token(), new_refresh_token()
    sent = len(upstream.refresh_bodies)
    assert error_of(refresh(client, mine, grant_for(settings, theirs))) == (401, "grant_invalid")
    assert len(upstream.refresh_bodies) == sent


@pytest.mark.parametrize("spoil", ["foreign key", "expired", "unknown host", "garbage",
                                   "not token characters", "short"])
def test_a_bad_grant_is_invalid(relay, spoil):
    client, _, settings = relay
    token = new_refresh_token()
    grant = {"foreign key": lambda: grant_for(settings, token, keys=(OTHER_KEY.encode(),)),
             "expired": lambda: grant_for(settings, token, ttl=-10),
             "unknown host": lambda: grant_for(settings, token, host="gone"),
             "garbage": lambda: "not.a.grant",
             "not token characters": lambda: "a grant? $%!",
             "short": lambda: "x"}[spoil]()
    assert error_of(refresh(client, token, grant)) == (401, "grant_invalid")


def test_a_refresh_answers_a_grant_for_the_rotated_token_and_the_old_one_stops(relay):
    client, sink, settings = relay
    token = new_refresh_token()
    first = refresh(client, token, grant_for(settings, token), SCOPE)
    assert first.status_code == 200, first.get_data(as_text=True)
    rotated = first.get_json()["claudeAiOauth"]["refreshToken"]
    new_grant = first.get_json()["refresh_grant"]
    assert rotated != token and new_grant
    # The old grant is bound to the old token: it does not cover the rotated one.
    assert error_of(refresh(client, rotated, grant_for(settings, token))) == (
        401, "grant_invalid")
    second = refresh(client, rotated, new_grant)
    assert second.status_code == 200, second.get_data(as_text=True)
    assert [e["type"] for e in sink.events] == ["token.refreshed", "token.refreshed"]
    assert sink.events[0]["data"] == {"host": "acme", "end_user": "user-1",
                                      "session_id": "sid-1", "mode": "oauth"}


def test_a_scope_beyond_the_grant_is_not_allowed(relay):
    client, _, settings = relay
    token = new_refresh_token()
    answer = refresh(client, token, grant_for(settings, token), SCOPE + " org:create_api_key")
    assert error_of(answer) == (403, "scope_not_allowed")


def test_a_rejected_refresh_is_an_event(relay):
    client, sink, settings = relay
    token = "sk-ant-ort01-bad-" + uuid.uuid4().hex
    assert error_of(refresh(client, token, grant_for(settings, token))) == (
        400, "refresh_rejected")
    assert [(e["type"], e["data"].get("error_code")) for e in sink.events] == [
        ("token.refresh_rejected", "refresh_rejected")]


def test_refreshes_are_limited_per_host_user(redis_db, upstream):
    settings = settings_for(redis_db, upstream.url + "/v1/oauth/token",
                            VF_USER_REFRESH_RATE="2/hour")
    client, _ = app_for(settings)
    statuses = []
    for _ in range(3):
        token = new_refresh_token()
        statuses.append(refresh(client, token, grant_for(settings, token)).status_code)
    assert statuses == [200, 200, 429]


def test_protected_mode_asks_a_public_client_for_a_grant(redis_db, upstream):
    settings = Settings(redis_url=redis_db, token_url=upstream.url + "/v1/oauth/token",
                        trusted_proxies=1, key_prefix=f"pm-{uuid.uuid4().hex[:8]}")
    client = create_app({"SETTINGS": settings}).test_client()
    body = {"refresh_token": new_refresh_token()}
    public = client.post("/api/auth/refresh", json=body,
                         headers={"X-Forwarded-For": "203.0.113.7"})
    assert error_of(public) == (401, "grant_required")
    private = client.post("/api/auth/refresh", json=body,
                          headers={"X-Forwarded-For": "192.168.0.7"})
    assert private.status_code == 200


# -- the upstream call's bounds -----------------------------------------------------
class Misbehaving(BaseHTTPRequestHandler):
    """``/drip``: headers, then one body byte every 4 s (10 in all);
    ``/huge``: a token answer padded to 100 KiB; ``/forever``: ``expires_in`` of 1e400 (infinite);
    ``/nan``: ``expires_in`` NaN; ``/absurd``: ``expires_in`` of 10**12 s."""

    sent: dict[str, int] = {}

    def log_message(self, *_: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/drip":
            return self._drip()
        lifetime = {"/forever": "1e400", "/nan": "NaN", "/absurd": str(10**12)}.get(self.path)
        body = (b'{"access_token": "x", "expires_in": %s, "scope": "a"}' % lifetime.encode()
                if lifetime else json.dumps({"access_token": "x", "expires_in": 3600,
                                             "scope": "a", "pad": "x" * 100 * 1024}).encode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path != "/huge":  # the cap must hold without a Content-Length too
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "10")
        self.end_headers()
        Misbehaving.sent["drip"], Misbehaving.sent["cut"] = 0, 0
        for _ in range(10):
            threading.Event().wait(4)
            if self._hung_up():
                Misbehaving.sent["cut"] = 1
                return
            self.wfile.write(b" ")
            self.wfile.flush()
            Misbehaving.sent["drip"] += 1

    def _hung_up(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False  # nothing to read: still connected
        except OSError:
            return True


@pytest.fixture(scope="module")
def misbehaving() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def open_relay(redis_db: str, url: str, timeout: float = 10.0) -> FlaskClient:
    settings = Settings(redis_url=redis_db, token_url=url, refresh_timeout=timeout,
                        key_prefix=f"up-{uuid.uuid4().hex[:8]}", refresh_rate="1000/minute")
    return create_app({"SETTINGS": settings}).test_client()


def test_the_timeout_bounds_the_whole_request_not_each_read(redis_db, misbehaving):
    # Each byte comes within the per-read bound; the whole answer would take 40 s.
    client = open_relay(redis_db, misbehaving + "/drip", timeout=5.0)
    response = client.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
    assert error_of(response) == (502, "upstream_unavailable")
    assert wait_for(lambda: Misbehaving.sent["cut"], timeout=10,
                    what="the upstream to see the relay hang up before the drip ended")
    assert Misbehaving.sent["drip"] < 10


@pytest.mark.parametrize("path", ["/huge", "/forever", "/nan", "/absurd"])
def test_an_oversized_or_absurd_answer_is_upstream_unavailable(redis_db, misbehaving, path):
    client = open_relay(redis_db, misbehaving + path)
    response = client.post("/api/auth/refresh", json={"refresh_token": new_refresh_token()})
    assert error_of(response) == (502, "upstream_unavailable")
