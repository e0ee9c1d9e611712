"""A host disconnects its user: POST /api/auth/revocations.

The API in-process (Flask's test client) on the real redis-server, the stand-in
sign-in service as the relay's upstream, and the lifecycle functions the worker
calls standing in for its side of a live login.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from tests.support.fake_oauth import FakeOAuthServer
from tests.support.inprocess import ApiClient
from tests.support.recording_sink import RecordingSink
from vaporforge import grants
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.settings import Settings

ACME, OTHER = new_secret(), new_secret()
GRANT_KEY = "r" * 43
SCOPE = "user:profile user:inference"


def settings_for(redis_db: str, upstream: FakeOAuthServer, **more: object) -> Settings:
    env = {"VF_HOST_KEYS": f"{entry_for('acme', ACME)},{entry_for('other', OTHER)}",
           "VF_GRANT_KEYS": GRANT_KEY, "REDIS_URL": redis_db,
           "VF_TOKEN_URL": upstream.url + "/v1/oauth/token", "VF_REFRESH_RATE": "1000/minute",
           "VF_KEY_PREFIX": f"rv-{uuid.uuid4().hex[:8]}"}
    return Settings.from_env({**env, **{k: str(v) for k, v in more.items()}})


@pytest.fixture
def broker(redis_db: str, upstream: FakeOAuthServer) -> tuple[FlaskClient, RecordingSink, Settings]:
    settings = settings_for(redis_db, upstream)
    app = create_app({"SETTINGS": settings})
    sink = RecordingSink()
    context = app.extensions["vaporforge"]
    app.extensions["vaporforge"] = type(context)(**{**context.__dict__, "events": sink})
    return app.test_client(), sink, settings


def new_token() -> str:
    return "sk-ant-ort01-" + uuid.uuid4().hex * 2


def login_grant(settings: Settings, token: str, end_user: str = "user-1",
                host: str = "acme", session_id: str = "sid-1") -> str:
    """The grant a claim answers (a new family)."""
    return grants.issue(settings.grant_keys,
                        grants.Grant(host, end_user, "oauth", tuple(SCOPE.split()), session_id),
                        token, settings.grant_ttl)


def refresh(client: FlaskClient, token: str, grant: str):
    return client.post("/api/auth/refresh", json={"refresh_token": token},
                       headers={"Authorization": f"Bearer {grant}"})


def revoke(client: FlaskClient, secret: str | None = ACME, **body: object):
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return client.post("/api/auth/revocations", json=body, headers=headers)


def past(revoked_at: str) -> None:
    """Wait until this clock is past the revocation's millisecond: a grant issued
    in that very millisecond cannot be told from one issued before, and is refused."""
    moment = datetime.fromisoformat(revoked_at).timestamp()
    while time.time() <= moment + 0.001:
        time.sleep(0.001)


def code_of(response) -> tuple[int, str]:
    body = response.get_json()
    return response.status_code, body["error"]["code"] if "error" in body else "ok"


def test_a_revocation_needs_the_host_key(broker):
    client, sink, _ = broker
    assert code_of(revoke(client, None, end_user="user-1")) == (401, "unauthorized")
    assert code_of(revoke(client, new_secret(), end_user="user-1")) == (401, "unauthorized")
    assert code_of(revoke(client, end_user="")) == (400, "validation_error")
    assert code_of(revoke(client, end_user="u", session_id="no spaces")) == (
        400, "validation_error")
    assert sink.events == []


def test_a_revoked_users_grants_are_refused_before_any_upstream_call(broker, upstream):
    client, sink, settings = broker
    token, refreshed_token = new_token(), new_token()
    old = login_grant(settings, token)
    first = refresh(client, refreshed_token, login_grant(settings, refreshed_token))
    assert first.status_code == 200, first.get_data(as_text=True)
    rotated, rotated_grant = (first.get_json()["claudeAiOauth"]["refreshToken"],
                              first.get_json()["refresh_grant"])

    answer = revoke(client, end_user="user-1")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["end_user"] == "user-1" and body["cancelled"] == []
    assert body["revoked_at"].endswith("Z")
    assert [e["type"] for e in sink.events][-1] == "token.revoked"
    assert sink.events[-1]["data"] == {"host": "acme", "end_user": "user-1", "session_id": "",
                                       "mode": ""}

    sent = len(upstream.refresh_bodies)
    # The claim's grant and the grant a refresh answered: both issued before the call.
    assert code_of(refresh(client, token, old)) == (401, "grant_revoked")
    assert code_of(refresh(client, rotated, rotated_grant)) == (401, "grant_revoked")
    assert len(upstream.refresh_bodies) == sent


def test_a_revocation_covers_only_that_user_of_that_host(broker):
    client, _, settings = broker
    tokens = [new_token() for _ in range(3)]
    others = [login_grant(settings, tokens[0], end_user="user-2"),
              login_grant(settings, tokens[1], host="other")]
    mine = login_grant(settings, tokens[2])
    assert revoke(client, end_user="user-1").status_code == 201
    assert code_of(refresh(client, tokens[2], mine)) == (401, "grant_revoked")
    for token, grant in zip(tokens, others, strict=False):
        assert code_of(refresh(client, token, grant)) == (200, "ok")


def test_a_grant_issued_after_the_revocation_is_served(broker):
    client, _, settings = broker
    answer = revoke(client, end_user="user-1")
    assert answer.status_code == 201
    past(answer.get_json()["revoked_at"])
    token = new_token()
    assert code_of(refresh(client, token, login_grant(settings, token))) == (200, "ok")


def test_one_logins_revocation_leaves_the_users_other_logins(broker):
    client, sink, settings = broker
    kept, gone = new_token(), new_token()
    kept_grant = login_grant(settings, kept, session_id="sid-kept")
    gone_grant = login_grant(settings, gone, session_id="sid-gone")
    answer = revoke(client, end_user="user-1", session_id="sid-gone")
    assert answer.status_code == 201 and answer.get_json()["session_id"] == "sid-gone"
    assert sink.events[-1]["data"]["session_id"] == "sid-gone"
    assert code_of(refresh(client, gone, gone_grant)) == (401, "grant_revoked")
    assert code_of(refresh(client, kept, kept_grant)) == (200, "ok")


def test_when_the_store_loses_its_revocations_older_grants_are_refused(broker, redis_db):
    """Fail closed: after a flush nobody can tell which grants were revoked, so
    every grant issued before the loss is refused; new logins are served."""
    client, _, settings = broker
    token = new_token()
    before = login_grant(settings, token)
    other = new_token()
    older_of_someone_else = login_grant(settings, other, end_user="user-9")
    assert revoke(client, end_user="user-1").status_code == 201
    redis.Redis.from_url(redis_db).flushdb()
    assert code_of(refresh(client, token, before)) == (401, "grant_revoked")
    assert code_of(refresh(client, other, older_of_someone_else)) == (401, "grant_revoked")
    fresh = new_token()
    assert code_of(refresh(client, fresh, login_grant(settings, fresh))) == (200, "ok")


def test_the_users_live_login_ends_cancelled_revoked(api: ApiClient):
    keys = Settings.from_env({"VF_HOST_KEYS": entry_for("acme", ACME),
                              "VF_GRANT_KEYS": GRANT_KEY})
    hosted = api.with_settings(host_keys=keys.host_keys, grant_keys=keys.grant_keys)
    sessions = {}
    for user in ("user-1", "user-2"):
        ticket = hosted.client.post("/api/auth/tickets", json={"end_user": user},
                                    headers={"Authorization": f"Bearer {ACME}"}).get_json()
        sessions[user] = hosted.create("oauth", headers={
            "Authorization": f"Bearer {ticket['ticket']}"})
        hosted.take_and_publish(sessions[user])

    # Another login's id: nothing of user-1's ends.
    wrong = revoke(hosted.client, end_user="user-1", session_id="not-that-one")
    assert wrong.status_code == 201 and wrong.get_json()["cancelled"] == []
    assert hosted.status(sessions["user-1"])["state"] == "awaiting_code"

    answer = revoke(hosted.client, end_user="user-1")
    assert answer.get_json()["cancelled"] == [sessions["user-1"]["session_id"]]
    ended = hosted.status(sessions["user-1"])
    assert (ended["state"], ended["error"]["code"]) == ("cancelled", "revoked")
    assert hosted.status(sessions["user-2"])["state"] == "awaiting_code"
    # Once ended, a second revocation has nothing left to cancel.
    assert revoke(hosted.client, end_user="user-1").get_json()["cancelled"] == []
