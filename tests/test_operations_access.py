"""Who may read /metrics, the details of /readyz and a worker's VF_METRICS_PORT
(vaporforge.access): the metrics token, else a direct call from loopback or a
private network; everyone else learns nothing (404, or the bare status)."""

from __future__ import annotations

import pytest
import requests
from werkzeug.test import Client

from tests.support.processes import free_port
from vaporforge.access import is_private, may_read_operations
from worker.metrics import WorkerMetrics, private_app

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
GATEWAY = {"REMOTE_ADDR": "172.18.0.1"}
TOKEN = "metrics-token-for-tests"


def get(client, path: str, environ: dict | None = None, **headers: str):
    return client.get(path, environ_base=environ or {}, headers=headers)


@pytest.mark.parametrize(("address", "private"), [
    ("127.0.0.1", True), ("::1", True), ("10.1.2.3", True), ("172.18.0.1", True),
    ("192.168.0.7", True), ("fd12::1", True), ("fe80::1", False), ("::ffff:10.0.0.1", True),
    ("203.0.113.9", False), ("8.8.8.8", False), ("2001:4860::1", False), ("0.0.0.0", False),
    ("", False), ("not-an-address", False), (None, False)])
def test_private_addresses(address, private):
    assert is_private(address) is private


def test_the_rule():
    assert may_read_operations("", {}, "127.0.0.1")
    assert not may_read_operations("", {}, "203.0.113.9")
    # through a proxy the caller is outside, whatever the proxy's own address
    assert not may_read_operations("", {"X-Forwarded-For": "10.0.0.1"}, "172.18.0.1")
    assert not may_read_operations("", {"Forwarded": "for=10.0.0.1"}, "127.0.0.1")
    # with a token, the token only: not the address
    assert not may_read_operations(TOKEN, {}, "127.0.0.1")
    assert not may_read_operations(TOKEN, {"Authorization": "Bearer wrong"}, "127.0.0.1")
    assert not may_read_operations(TOKEN, {"Authorization": TOKEN}, "127.0.0.1")
    assert may_read_operations(TOKEN, {"authorization": f"Bearer {TOKEN}"}, "203.0.113.9")
    assert may_read_operations(TOKEN, {"Authorization": f"bearer {TOKEN}",
                                       "X-Forwarded-For": "203.0.113.9"}, "172.18.0.1")


def test_metrics_without_a_token_answer_loopback_and_private_networks_only(api):
    open_ = get(api.client, "/metrics")  # the test client calls from 127.0.0.1
    assert open_.status_code == 200 and b"vaporforge_capacity_slots" in open_.data
    assert get(api.client, "/metrics", GATEWAY).status_code == 200
    for refused in (get(api.client, "/metrics", OUTSIDE),
                    get(api.client, "/metrics", **{"X-Forwarded-For": "10.0.0.2"})):
        assert refused.status_code == 404
        assert refused.get_json() == get(api.client, "/no-such-route").get_json()
        assert b"vaporforge" not in refused.data


def test_metrics_with_a_token_answer_its_bearer_only(api):
    private = api.with_settings(metrics_token=TOKEN)
    assert get(private.client, "/metrics").status_code == 404  # loopback is not enough
    assert get(private.client, "/metrics", Authorization="Bearer nope").status_code == 404
    assert get(private.client, "/metrics", OUTSIDE,
               Authorization=f"Bearer {TOKEN}").status_code == 200
    behind_proxy = api.with_settings(metrics_token=TOKEN, trusted_proxies=1)
    assert get(behind_proxy.client, "/metrics", GATEWAY, Authorization=f"Bearer {TOKEN}",
               **{"X-Forwarded-For": "203.0.113.9"}).status_code == 200


def test_metrics_are_rate_limited_like_readyz_and_the_refused_are_not_told(api):
    limited = api.with_settings(probe_rate="3/minute")
    assert [get(limited.client, "/metrics").status_code for _ in range(4)] == [200] * 3 + [429]
    # an outsider keeps getting 404, never a 429 that would show the route exists
    assert {get(limited.client, "/metrics", OUTSIDE).status_code for _ in range(5)} == {404}


def test_readyz_tells_an_anonymous_caller_only_its_status(api):
    for environ, headers in ((OUTSIDE, {}), (GATEWAY, {"X-Forwarded-For": "203.0.113.9"})):
        assert get(api.client, "/readyz", environ, **headers).get_json() == {"status": "ready"}
    details = get(api.client, "/readyz").get_json()
    assert details["status"] == "ready" and details["redis"] == "ok"
    assert {"cli_versions", "workers", "capacity", "live_sessions", "warm"} <= set(details)

    private = api.with_settings(metrics_token=TOKEN)
    assert get(private.client, "/readyz").get_json() == {"status": "ready"}
    assert "capacity" in get(private.client, "/readyz", OUTSIDE,
                             Authorization=f"Bearer {TOKEN}").get_json()


def test_worker_metrics_port_follows_the_same_rule():
    metrics = WorkerMetrics()
    metrics.logins.labels("ready").inc()
    app = Client(private_app(lambda environ, start: (start("200 OK", []), [b"series"])[1], ""))
    assert app.get("/metrics", environ_base=OUTSIDE).status_code == 404
    assert app.get("/metrics", environ_base=GATEWAY).status_code == 200
    with_token = Client(private_app(lambda environ, start: (start("200 OK", []), [b"s"])[1],
                                    TOKEN))
    assert with_token.get("/", environ_base=GATEWAY).status_code == 404
    assert with_token.get("/", environ_base=OUTSIDE,
                          headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

    # and the real server a worker starts on VF_METRICS_PORT
    for token, headers, status in (("", {}, 200), ("", {"X-Forwarded-For": "1.2.3.4"}, 404),
                                   (TOKEN, {}, 404),
                                   (TOKEN, {"Authorization": f"Bearer {TOKEN}"}, 200)):
        port = free_port()
        server = metrics.serve(port, token, host="127.0.0.1")
        try:
            answer = requests.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=5)
        finally:
            server.shutdown()
            server.server_close()
        assert answer.status_code == status
        assert ('vaporforge_worker_logins_total{state="ready"} 1.0' in answer.text) is (
            status == 200)
