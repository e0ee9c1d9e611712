"""Refresh-grant reuse detection (RFC 9700 §4.14): a grant already rotated means
a copy exists; it is refused before any upstream call or budget, and its family
is revoked.

The API in-process on the real redis-server, the stand-in sign-in service as
the relay's upstream (it records every refresh it is sent).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from tests.support.fake_oauth import FakeOAuthServer
from tests.support.recording_sink import RecordingSink
from vaporforge import grants
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.keys import KeyKind, key_for
from vaporforge.settings import Settings

SCOPE = "user:profile user:inference"


def broker_for(redis_db: str, upstream: FakeOAuthServer,
               **more: str) -> tuple[FlaskClient, RecordingSink, Settings]:
    env = {"VF_HOST_KEYS": entry_for("acme", new_secret()), "VF_GRANT_KEYS": "f" * 43,
           "REDIS_URL": redis_db, "VF_TOKEN_URL": upstream.url + "/v1/oauth/token",
           "VF_REFRESH_RATE": "1000/minute", "VF_KEY_PREFIX": f"ru-{uuid.uuid4().hex[:8]}",
           **more}
    settings = Settings.from_env(env)
    app = create_app({"SETTINGS": settings})
    sink = RecordingSink()
    context = app.extensions["vaporforge"]
    app.extensions["vaporforge"] = type(context)(**{**context.__dict__, "events": sink})
    return app.test_client(), sink, settings


@pytest.fixture
def broker(redis_db: str, upstream: FakeOAuthServer) -> tuple[FlaskClient, RecordingSink, Settings]:
    return broker_for(redis_db, upstream)


def new_token() -> str:
    return "sk-ant-ort01-" + uuid.uuid4().hex * 2


def claim_grant(settings: Settings, token: str) -> str:
    return grants.issue(settings.grant_keys,
                        grants.Grant("acme", "user-1", "oauth", tuple(SCOPE.split()), "sid-7"),
                        token, settings.grant_ttl)


def refresh(client: FlaskClient, held: tuple[str, str]):
    token, grant = held
    return client.post("/api/auth/refresh", json={"refresh_token": token},
                       headers={"Authorization": f"Bearer {grant}"})


def next_of(response) -> tuple[str, str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return body["claudeAiOauth"]["refreshToken"], body["refresh_grant"]


def code_of(response) -> tuple[int, str]:
    body = response.get_json()
    return response.status_code, body["error"]["code"] if "error" in body else "ok"


def test_the_second_holder_of_a_grant_is_refused_and_both_lose_it(broker, upstream):
    client, sink, settings = broker
    token = new_token()
    copy = (token, claim_grant(settings, token))  # the browser's set, and a copy of it
    first = next_of(refresh(client, copy))       # the first holder refreshes
    sent = len(upstream.refresh_bodies)

    assert code_of(refresh(client, copy)) == (401, "grant_reused")
    assert len(upstream.refresh_bodies) == sent  # the copy never reached the sign-in service
    reuse = [e for e in sink.events if e["type"] == "token.reuse_detected"]
    assert [e["data"] for e in reuse] == [{"host": "acme", "end_user": "user-1",
                                           "session_id": "sid-7", "mode": "oauth",
                                           "error_code": "grant_reused"}]
    # The family is revoked: the first holder's fresh grant is refused too.
    assert code_of(refresh(client, first)) == (401, "grant_revoked")
    assert code_of(refresh(client, copy)) == (401, "grant_revoked")
    assert len(upstream.refresh_bodies) == sent


def test_holders_racing_with_one_grant_get_one_refresh(broker, upstream):
    """The check and the advance are one step: of eight simultaneous uses of one
    grant, one is relayed; the others are copies."""
    client, _, settings = broker
    token = new_token()
    held = (token, claim_grant(settings, token))
    sent = len(upstream.refresh_bodies)
    start, codes = threading.Barrier(8), []

    def use() -> None:
        start.wait()
        codes.append(code_of(refresh(client, held))[1])

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count("ok") == 1 and len(upstream.refresh_bodies) == sent + 1
    assert set(codes) - {"ok"} <= {"grant_reused", "grant_revoked"} and "grant_reused" in codes


def test_a_refused_reuse_spends_none_of_the_users_budget(redis_db, upstream):
    client, _, settings = broker_for(redis_db, upstream, VF_USER_REFRESH_RATE="2/hour")
    token = new_token()
    held = (token, claim_grant(settings, token))
    next_of(refresh(client, held))                                  # 1 of 2
    assert code_of(refresh(client, held)) == (401, "grant_reused")  # not counted
    assert code_of(refresh(client, held)) == (401, "grant_revoked")  # not counted
    other = new_token()
    next_of(refresh(client, (other, claim_grant(settings, other))))  # 2 of 2
    last = new_token()
    assert code_of(refresh(client, (last, claim_grant(settings, last)))) == (
        429, "rate_limited")


def test_a_lost_family_record_is_accepted_logged_and_recorded_again(broker, redis_db, caplog):
    client, sink, settings = broker
    token = new_token()
    second = next_of(refresh(client, (token, claim_grant(settings, token))))
    claims = grants.jwt.decode(second[1], grants.OctKey.import_key(settings.grant_keys[0])).claims
    family = key_for(settings.key_prefix, KeyKind.FAMILY,
                     hashlib.sha256(claims["fam"].encode()).hexdigest())
    store = redis.Redis.from_url(redis_db)
    assert store.delete(family) == 1  # what a store that lost the record shows

    with caplog.at_level(logging.INFO, logger="vaporforge.audit"):
        third = next_of(refresh(client, second))
    notes = [json.loads(r.getMessage()) for r in caplog.records if r.name == "vaporforge.audit"
             and "family_record_missing" in r.getMessage()]
    assert [n["data"]["session_id"] for n in notes] == ["sid-7"]
    assert "sk-ant" not in caplog.text  # no token in the audit line
    # Recording started again: replaying the grant just rotated is caught.
    assert code_of(refresh(client, second)) == (401, "grant_reused")
    assert code_of(refresh(client, third)) == (401, "grant_revoked")
    assert [e["type"] for e in sink.events].count("token.reuse_detected") == 1


def test_a_refresh_that_failed_upstream_may_be_retried_with_the_same_grant(broker, upstream):
    """The next grant was never handed out, so the one sent stays current."""
    client, sink, settings = broker
    token = "sk-ant-ort01-bad-" + uuid.uuid4().hex
    held = (token, claim_grant(settings, token))
    assert code_of(refresh(client, held)) == (400, "refresh_rejected")
    assert code_of(refresh(client, held)) == (400, "refresh_rejected")
    assert "token.reuse_detected" not in [e["type"] for e in sink.events]


def test_family_keys_hold_no_grant_and_no_user_id(broker, redis_db):
    client, _, settings = broker
    token = new_token()
    grant = claim_grant(settings, token)
    next_of(refresh(client, (token, grant)))
    keys = [k.decode() for k in redis.Redis.from_url(redis_db).keys(f"{settings.key_prefix}:*")]
    family = [k for k in keys if f":{KeyKind.FAMILY.value}:" in k]
    assert len(family) == 1 and len(family[0].rsplit(":", 1)[1]) == 64  # a SHA-256
    assert not [k for k in keys if "user-1" in k or grant[:20] in k]
    assert key_for(settings.key_prefix, KeyKind.EPOCH) in keys
