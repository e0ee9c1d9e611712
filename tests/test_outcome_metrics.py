"""/metrics counts tickets (minted, refused by code) and refresh relays (by outcome),
each by host, on the API in-process against the real redis-server and the stand-in
sign-in service; the worker's CLI info metric on a real worker registry."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from tests.support.fake_oauth import FakeOAuthServer
from vaporforge import grants
from vaporforge.hostkeys import entry_for, new_secret
from vaporforge.settings import Settings
from worker.metrics import WorkerMetrics

HOST_SECRET = new_secret()
SCOPE = ("user:profile", "user:inference")


def scrape(client: FlaskClient) -> dict[tuple[str, tuple], float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def hosted(redis_db: str, token_url: str) -> tuple[FlaskClient, Settings]:
    settings = Settings.from_env({
        "VF_HOST_KEYS": entry_for("acme", HOST_SECRET), "VF_GRANT_KEYS": "g" * 43,
        "REDIS_URL": redis_db, "VF_TOKEN_URL": token_url, "VF_REFRESH_RATE": "1000/minute",
        "VF_KEY_PREFIX": f"outcomes-{uuid.uuid4().hex[:8]}"})
    return create_app({"SETTINGS": settings}).test_client(), settings


def refresh_token() -> str:
    return "sk-ant-ort01-" + uuid.uuid4().hex * 2


def test_tickets_are_counted_minted_and_refused_by_code_and_host(redis_db, upstream):
    client, _ = hosted(redis_db, upstream.url + "/v1/oauth/token")
    key = {"Authorization": f"Bearer {HOST_SECRET}"}
    for _ in range(2):
        assert client.post("/api/auth/tickets", json={"end_user": "u1"},
                           headers=key).status_code == 201
    assert client.post("/api/auth/tickets", json={"end_user": "u1"},
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/auth/tickets", json={"end_user": "u1", "modes": ["nope"]},
                       headers=key).status_code == 400
    seen = scrape(client)
    assert seen[("vaporforge_tickets_minted_total", (("host", "acme"),))] == 2
    assert seen[("vaporforge_tickets_refused_total",
                 (("code", "unauthorized"), ("host", "")))] == 1
    # The body is judged before the host key: no host to name yet.
    assert seen[("vaporforge_tickets_refused_total",
                 (("code", "validation_error"), ("host", "")))] == 1
    assert not any("u1" in str(labels) for _, labels in seen)  # never the end user


def test_refresh_relays_are_counted_by_outcome_and_the_grants_host(redis_db, upstream):
    client, settings = hosted(redis_db, upstream.url + "/v1/oauth/token")
    token = refresh_token()
    grant = grants.issue(settings.grant_keys, grants.Grant("acme", "u1", "oauth", SCOPE, "s1"),
                         token, 3600)
    headers = {"Authorization": f"Bearer {grant}"}
    assert client.post("/api/auth/refresh", json={"refresh_token": token},
                       headers=headers).status_code == 200
    # No grant: refused before anything is known of a host.
    assert client.post("/api/auth/refresh", json={"refresh_token": refresh_token()}
                       ).status_code == 401
    seen = scrape(client)
    assert seen[("vaporforge_refresh_relayed_total", (("host", "acme"), ("outcome", "ok")))] == 1
    assert seen[("vaporforge_refresh_relayed_total",
                 (("host", ""), ("outcome", "grant_required")))] == 1


def test_an_unreachable_sign_in_service_is_counted_upstream_unavailable(redis_db):
    unreachable = FakeOAuthServer(port=0, tls=False).start()
    url = unreachable.url + "/v1/oauth/token"
    unreachable.stop()
    settings = Settings(redis_url=redis_db, key_prefix=f"outcomes-{uuid.uuid4().hex[:8]}",
                        token_url=url, refresh_rate="1000/minute", refresh_timeout=2.0)
    client = create_app({"SETTINGS": settings}).test_client()  # no host keys: no grant needed
    assert client.post("/api/auth/refresh",
                       json={"refresh_token": refresh_token()}).status_code == 502
    seen = scrape(client)
    assert seen[("vaporforge_refresh_relayed_total",
                 (("host", ""), ("outcome", "upstream_unavailable")))] == 1


def test_the_worker_exports_its_cli_version_as_an_info_metric():
    metrics = WorkerMetrics()
    metrics.cli.info({"runtime": "local", "version": "2.1.332 (Claude Code)"})
    sample = next(s for f in metrics.registry.collect() for s in f.samples
                  if s.name == "vaporforge_worker_cli_info")
    assert sample.labels == {"runtime": "local", "version": "2.1.332 (Claude Code)"}
    assert sample.value == 1
