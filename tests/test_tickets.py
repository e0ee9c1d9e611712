"""Host keys, connect tickets and protected mode.

The API in-process (Flask's test client) on the real redis-server; a creation
that passes is taken by the same lifecycle functions the worker calls.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.support.inprocess import ApiClient
from tests.support.processes import redis_dump
from vaporforge.hostkeys import entry_for, main, new_secret, parse_host_keys, verify
from vaporforge.settings import ConfigError, Settings

HOST_SECRET = new_secret()
OLD_SECRET = new_secret()
GRANT_KEY = "k" * 43
ORIGIN = "https://app.example"


def with_host_keys(api: ApiClient, **more: object) -> ApiClient:
    env = {"VF_HOST_KEYS": f"{entry_for('acme', HOST_SECRET)},{entry_for('acme', OLD_SECRET)}",
           "VF_GRANT_KEYS": GRANT_KEY}
    keys = Settings.from_env(env)
    return api.with_settings(host_keys=keys.host_keys, grant_keys=keys.grant_keys,
                             trusted_proxies=1, **more)


@pytest.fixture
def hosted(api: ApiClient) -> ApiClient:
    return with_host_keys(api)


def mint(api: ApiClient, secret: str = HOST_SECRET, **body: object) -> tuple[int, dict]:
    response = api.client.post("/api/auth/tickets", json={"end_user": "user-1", **body},
                               headers={"Authorization": f"Bearer {secret}"})
    return response.status_code, response.get_json()


def create(api: ApiClient, ticket: str | None, mode: str = "oauth",
           headers: dict | None = None) -> tuple[int, dict]:
    sent = {"Authorization": f"Bearer {ticket}"} if ticket else {}
    response = api.client.post("/api/auth/sessions", json={"mode": mode},
                               headers={**sent, **(headers or {})})
    return response.status_code, response.get_json()


def code(answer: tuple[int, dict]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"] if "error" in body else "ok"


def cancel(api: ApiClient, session: dict) -> None:
    assert api.call("DELETE", session).status_code == 204


def test_the_host_key_command_prints_a_secret_and_its_entry(capsys):
    assert main(["new", "acme"]) == 0
    out = capsys.readouterr().out
    secret = next(w for w in out.split() if w.startswith("vfhk_"))
    entry = next(w for w in out.split() if w.startswith("acme=sha256:"))
    assert len(secret) >= len("vfhk_") + 43  # 32 bytes in base64url
    assert verify(parse_host_keys(entry), secret) == "acme"
    assert verify(parse_host_keys(entry), secret + "x") is None


@pytest.mark.parametrize("raw", ["acme", "acme=sha256:abc", "=sha256:" + "0" * 64,
                                 "acme=md5:" + "0" * 64, "a b=sha256:" + "0" * 64])
def test_bad_host_key_entries_stop_the_start(raw):
    with pytest.raises(ConfigError, match="VF_HOST_KEYS entry 1"):
        Settings.from_env({"VF_HOST_KEYS": raw, "VF_GRANT_KEYS": GRANT_KEY})


def test_host_keys_without_grant_keys_stop_the_start():
    with pytest.raises(ConfigError, match="VF_HOST_KEYS is set but VF_GRANT_KEYS is not"):
        Settings.from_env({"VF_HOST_KEYS": entry_for("acme", HOST_SECRET)})


def test_a_ticket_is_minted_with_the_host_key_and_kept_only_as_a_hash(hosted, redis_db):
    status, body = mint(hosted, end_user="user@example.com", modes=["console"], origin=ORIGIN)
    assert status == 201 and set(body) == {"ticket", "expires_at"}
    assert body["ticket"].startswith("vft_") and body["expires_at"].endswith("Z")
    assert body["ticket"].encode() not in redis_dump(redis_db)
    store = redis.Redis.from_url(redis_db, decode_responses=True)
    keys = store.keys("*")
    assert not any("user@example.com" in key for key in keys)
    tickets = store.keys("*:ticket:*")
    assert len(tickets) == 1 and 590 <= store.ttl(tickets[0]) <= 600


def test_the_rotated_key_works_and_a_wrong_or_missing_key_is_one_answer(hosted):
    assert mint(hosted, OLD_SECRET)[0] == 201
    assert code(mint(hosted, new_secret())) == (401, "unauthorized")
    no_key = hosted.client.post("/api/auth/tickets", json={"end_user": "u"})
    assert (no_key.status_code, no_key.get_json()) == mint(hosted, "vfhk_wrong")


@pytest.mark.parametrize("body, field", [({"end_user": ""}, "end_user"),
                                         ({"end_user": "x" * 129}, "end_user"),
                                         ({"end_user": "a\nb"}, "end_user"),
                                         ({"modes": ["oauth", "sso"]}, "modes"),
                                         ({"modes": []}, "modes"),
                                         ({"origin": "https://app.example/path"}, "origin"),
                                         ({"origin": "http://app.example"}, "origin")])
def test_a_bad_ticket_request_is_a_validation_error(hosted, body, field):
    status, answer = mint(hosted, **body)
    assert (status, answer["error"]["code"]) == (400, "validation_error")
    assert field in answer["error"]["message"]


def test_minting_is_limited_per_host(hosted):
    limited = with_host_keys(hosted, ticket_rate="2/minute")
    statuses = [mint(limited)[0] for _ in range(3)]
    assert statuses == [201, 201, 429]
    response = limited.client.post("/api/auth/tickets", json={"end_user": "u"},
                                   headers={"Authorization": f"Bearer {HOST_SECRET}"})
    assert int(response.headers["Retry-After"]) >= 1


def test_with_host_keys_every_creation_needs_a_ticket_even_from_loopback(hosted):
    assert code(create(hosted, None)) == (401, "ticket_required")
    assert code(create(hosted, "vft_" + "a" * 43)) == (401, "ticket_invalid")
    assert code(create(hosted, HOST_SECRET)) == (401, "ticket_invalid")
    for bogus in ("x", "not-a-ticket", "a ticket? $%!"):  # any ticket sent is judged, not missing
        assert code(create(hosted, bogus)) == (401, "ticket_invalid")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert code(create(hosted, None, headers=basic)) == (401, "ticket_required")


def test_a_ticket_is_used_once(hosted):
    ticket = mint(hosted)[1]["ticket"]
    status, session = create(hosted, ticket)
    assert status == 202
    assert code(create(hosted, ticket)) == (401, "ticket_invalid")
    cancel(hosted, session)


def test_an_expired_ticket_is_invalid(hosted):
    short = with_host_keys(hosted, ticket_ttl=1)
    ticket = mint(short)[1]["ticket"]
    time.sleep(1.2)  # the ticket's TTL
    assert code(create(short, ticket)) == (401, "ticket_invalid")


def test_a_mode_or_origin_the_ticket_does_not_allow_is_refused_and_can_be_fixed(hosted):
    ticket = mint(hosted, modes=["console"], origin=ORIGIN)[1]["ticket"]
    assert code(create(hosted, ticket, "oauth", {"Origin": ORIGIN})) == (403, "mode_not_allowed")
    assert code(create(hosted, ticket, "console")) == (403, "origin_not_allowed")
    assert code(create(hosted, ticket, "console", {"Origin": "https://evil.example"})) == (
        403, "origin_not_allowed")
    status, session = create(hosted, ticket, "console", {"Origin": ORIGIN})
    assert status == 202 and session["mode"] == "console"
    cancel(hosted, session)


def test_a_refused_creation_does_not_use_the_ticket_up(hosted):
    full = with_host_keys(hosted, max_sessions=1)
    first_ticket, second_ticket = mint(full)[1]["ticket"], mint(full)[1]["ticket"]
    status, first = create(full, first_ticket)
    assert status == 202
    assert code(create(full, second_ticket)) == (503, "at_capacity")
    cancel(full, first)
    status, second = create(full, second_ticket)
    assert status == 202
    cancel(full, second)


def test_creations_are_limited_per_host_user_and_a_refusal_keeps_the_ticket(hosted):
    limited = with_host_keys(hosted, user_create_rate="2/hour")
    sessions = [create(limited, mint(limited)[1]["ticket"])[1] for _ in range(2)]
    ticket = mint(limited)[1]["ticket"]
    response = limited.client.post("/api/auth/sessions", json={},
                                   headers={"Authorization": f"Bearer {ticket}"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 60
    other = mint(limited, end_user="user-2")[1]["ticket"]
    status, third = create(limited, other)
    assert status == 202  # another user of the same host is not held back
    left = redis.Redis.from_url(limited.settings.redis_url).keys("*:ticket:*")
    assert len(left) == 1  # the refused ticket is still there
    for session in (*sessions, third):
        limited.call("DELETE", session)


def test_two_concurrent_creations_with_one_ticket_make_one_session(hosted):
    ticket = mint(hosted)[1]["ticket"]
    start = threading.Barrier(2)
    answers: list[tuple[int, dict]] = []

    def attempt() -> None:
        app = hosted.app.test_client()  # one client per thread
        start.wait()
        response = app.post("/api/auth/sessions", json={},
                            headers={"Authorization": f"Bearer {ticket}"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code(a) for a in answers) == [(202, "ok"), (401, "ticket_invalid")]
    cancel(hosted, next(body for status, body in answers if status == 202))


# -- protected mode ------------------------------------------------------------------
@pytest.fixture
def behind_proxy(api: ApiClient) -> ApiClient:
    return api.with_settings(trusted_proxies=1)


@pytest.mark.parametrize("address, expected", [
    ("203.0.113.9", 401), ("2001:db8::1", 401), ("100.64.0.1", 401), ("169.254.1.1", 401),
    ("127.0.0.1", 202), ("10.1.2.3", 202), ("172.20.0.4", 202), ("192.168.1.1", 202),
    ("::1", 202), ("fd12::1", 202), ("::ffff:10.0.0.1", 202)])
def test_protected_mode_judges_the_address_behind_the_trusted_proxy(behind_proxy, address,
                                                                     expected):
    status, body = create(behind_proxy, None, headers={"X-Forwarded-For": address})
    assert status == expected
    if status == 401:
        assert body["error"]["code"] == "ticket_required"
    else:
        cancel(behind_proxy, body)


def test_a_spoofed_private_address_before_the_trusted_hop_does_not_count(behind_proxy):
    # The proxy appends the real client; only the last hop is trusted.
    headers = {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}
    assert code(create(behind_proxy, None, headers=headers)) == (401, "ticket_required")


def test_without_trusted_proxies_the_forwarded_header_is_ignored(api):
    status, session = create(api, None, headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 202  # judged from the socket's loopback address
    cancel(api, session)


def test_the_api_warns_once_at_start_in_protected_mode(redis_db, caplog):
    caplog.set_level("WARNING", logger="vaporforge.api")
    ApiClient.build(redis_db)
    assert [r.getMessage() for r in caplog.records].count(
        next(r.getMessage() for r in caplog.records if "protected mode" in r.getMessage())) == 1


def test_sealed_credentials_are_the_default_everywhere():
    assert Settings().require_client_key and Settings.from_env({}).require_client_key
    assert not Settings.from_env({"VF_REQUIRE_CLIENT_KEY": "false"}).require_client_key
