"""Unauthenticated callers cannot fill Redis, spend an owner's budget or run
unlimited work; with Redis down every endpoint answers 503 and recovers."""

from __future__ import annotations

import secrets

import pytest

from api.limits import PER_SESSION_ENDPOINTS
from tests.support.inprocess import ApiClient
from tests.support.processes import free_port, start_redis

PROXY = {"VF_TRUSTED_PROXIES": 1}


def keys(api: ApiClient) -> set[str]:
    return set(api.store.redis.scan_iter())


def test_random_ids_make_no_redis_key(api):
    """Defect 6: the poll limit was keyed on the raw path id before it was checked."""
    before = keys(api)
    for n in range(40):
        fake = secrets.token_urlsafe(16) if n % 2 else "x" * 4000
        response = api.client.get(f"/api/auth/sessions/{fake}",
                                  headers={"Authorization": "Bearer " + "t" * 43})
        assert response.status_code == 404
    added = keys(api) - before
    assert len(added) <= 1  # the one probe counter of this client's address
    assert all("x" * 16 not in key for key in added)


def test_wrong_tokens_do_not_spend_the_owners_poll_budget(api):
    limited = api.with_settings(poll_rate="5/minute")
    session = limited.create()
    thief = {**session, "session_token": secrets.token_urlsafe(32)}
    for _ in range(20):
        assert limited.call("GET", thief).status_code == 404
    assert [limited.call("GET", session).status_code for _ in range(6)] == [200] * 5 + [429]


def test_failed_lookups_are_limited_per_client_network(api):
    limited = api.with_settings(probe_rate="5/minute", trusted_proxies=1)
    session = limited.create()
    thief = {**session, "session_token": secrets.token_urlsafe(32)}
    statuses = [limited.call("GET", thief, headers={"X-Forwarded-For": "2001:db8::1"}
                             ).status_code for _ in range(6)]
    assert statuses == [404] * 5 + [429]
    other = limited.call("GET", thief, headers={"X-Forwarded-For": "2001:db8:1::1"})
    assert other.status_code == 404
    # The owner, even behind the same address, is not affected.
    assert limited.call("GET", session, headers={"X-Forwarded-For": "2001:db8::1"}
                        ).status_code == 200


def test_head_is_a_poll_and_is_limited(api):
    limited = api.with_settings(poll_rate="3/minute")
    session = limited.create()
    assert [limited.call("HEAD", session).status_code for _ in range(3)] == [200] * 3
    assert limited.call("GET", session).status_code == 429


@pytest.mark.parametrize(("method", "suffix", "kwargs"), [
    ("DELETE", "", {}), ("POST", "/code", {"json": {"code": "abc#def"}}),
    ("POST", "/credentials", {})])
def test_actions_are_limited_per_session(api, method, suffix, kwargs):
    limited = api.with_settings(action_rate="3/minute")
    session = limited.create()
    statuses = [limited.call(method, session, suffix, **kwargs).status_code for _ in range(4)]
    assert statuses[3] == 429 and 429 not in statuses[:3]
    assert int(limited.call(method, session, suffix, **kwargs).headers["Retry-After"]) > 0


def test_readyz_is_limited_per_client_network(api):
    limited = api.with_settings(probe_rate="3/minute")
    assert [limited.client.get("/readyz").status_code for _ in range(4)] == [200] * 3 + [429]


def test_creations_are_limited_per_ipv6_64(api):
    limited = api.with_settings(create_rate="2/minute", trusted_proxies=1)

    def create(address: str) -> int:
        return limited.client.post("/api/auth/sessions", json={},
                                   headers={"X-Forwarded-For": address}).status_code

    assert [create(f"2001:db8:aa:bb::{n}") for n in (1, 2, 3)] == [202, 202, 429]
    assert create("2001:db8:aa:cc::1") == 202


ENDPOINTS = [("POST", "/api/auth/sessions", {"json": {}}),
             ("GET", "/api/auth/sessions/{sid}", {}), ("HEAD", "/api/auth/sessions/{sid}", {}),
             ("DELETE", "/api/auth/sessions/{sid}", {}),
             ("POST", "/api/auth/sessions/{sid}/code", {"json": {"code": "abc#def"}}),
             ("POST", "/api/auth/sessions/{sid}/credentials", {}),
             ("GET", "/readyz", {})]


def test_with_redis_down_every_endpoint_is_503_and_recovers(tmp_path):
    """Defect 5: Redis down answered 500 internal_error."""
    port = free_port()
    api = ApiClient.build(f"redis://127.0.0.1:{port}/0")
    sid = secrets.token_urlsafe(16)
    auth = {"Authorization": "Bearer " + secrets.token_urlsafe(32)}
    for method, path, kwargs in ENDPOINTS:
        response = api.client.open(path.format(sid=sid), method=method, headers=auth, **kwargs)
        assert response.status_code == 503, (method, path)
        assert int(response.headers["Retry-After"]) > 0
        if method != "HEAD":
            assert response.get_json()["error"]["code"] == "store_unavailable", (method, path)
    assert api.client.get("/healthz").status_code == 200  # liveness is not readiness
    proc, _ = start_redis(tmp_path, port)
    try:
        assert api.client.post("/api/auth/sessions", json={}).status_code == 202
        assert api.client.get("/readyz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_every_route_of_one_session_is_limited_per_session(api):
    """Flask-Limiter skips exactly the routes that count per session themselves:
    a new per-session route must be counted too, and no other route is skipped."""
    per_session = {rule.endpoint for rule in api.app.url_map.iter_rules()
                   if "<session_id>" in rule.rule}
    assert per_session == PER_SESSION_ENDPOINTS
