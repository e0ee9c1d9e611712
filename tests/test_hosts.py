"""Hosts as tenants, in-process: ``VF_HOSTS_FILE``'s refusals (each names its
line, host and key), the single-host variables as hosts, a ticket that never
allows more than its host (the API on Flask's test client and the real Redis),
and events routed by host.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.inprocess import ApiClient
from vaporforge.events import DeliveringSink, EventType, Subject, host_of, sink_for
from vaporforge.hostkeys import digest_of, entry_for, new_secret
from vaporforge.hosts import Webhook
from vaporforge.session.states import LoginMode
from vaporforge.settings import ConfigError, Settings

KEY1, KEY2, KEY2_NEXT = new_secret(), new_secret(), new_secret()
SHA1, SHA2, SHA2_NEXT = (f"sha256:{digest_of(k).hex()}" for k in (KEY1, KEY2, KEY2_NEXT))
GRANT_KEY = "k" * 43
SECRET1, SECRET2 = "s1-" + "a" * 20, "s2-" + "b" * 20
APP2_ORIGIN = "https://app2.example"

GOOD = f"""\
[hosts.app1]
keys = ["{SHA1}"]
webhook_url = "https://app1.example/hooks"
webhook_secret_env = "APP1_SECRET"
user_create_rate = "5/hour"

[hosts.app2]
keys = ["{SHA2}", "{SHA2_NEXT}"]
webhook_url = "http://127.0.0.1:9/hooks"
webhook_secret_env = "APP2_SECRET"
origins = ["{APP2_ORIGIN}/"]
modes = ["console"]
user_refresh_rate = "7/hour"
"""
ENV = {"APP1_SECRET": SECRET1, "APP2_SECRET": SECRET2, "VF_GRANT_KEYS": GRANT_KEY}


def settings_from(tmp_path: Path, text: str, **env: str) -> Settings:
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    return Settings.from_env({**ENV, "VF_HOSTS_FILE": str(path), **env})


def test_a_hosts_file_gives_each_host_its_own_settings(tmp_path):
    settings = settings_from(tmp_path, GOOD)
    app1, app2 = settings.hosts
    assert (app1.name, app2.name) == ("app1", "app2")
    assert app1.modes == tuple(LoginMode) and app2.modes == (LoginMode.CONSOLE,)
    assert (app1.origins, app2.origins) == ((), (APP2_ORIGIN,))
    assert app1.webhook == Webhook("https://app1.example/hooks", SECRET1)
    assert app2.webhook == Webhook("http://127.0.0.1:9/hooks", SECRET2)
    assert (app1.user_create_rate, app1.user_refresh_rate) == ("5/hour", "60/hour")
    assert (app2.user_create_rate, app2.user_refresh_rate) == ("20/hour", "7/hour")
    assert settings.hosts.by_key(KEY1) is app1
    assert settings.hosts.by_key(KEY2) is app2 and settings.hosts.by_key(KEY2_NEXT) is app2
    assert settings.hosts.by_key(new_secret()) is None
    # What the rest of the broker reads: every key (no protected mode), the CORS list.
    assert {k.name for k in settings.host_keys} == {"app1", "app2"}
    assert settings.allowed_origins == (APP2_ORIGIN,)
    assert SECRET1 not in repr(settings) and SECRET2 not in repr(settings)


def test_a_secret_may_come_from_a_file(tmp_path):
    secret_file = tmp_path / "app1-secret"
    secret_file.write_text(SECRET1 + "\n")
    text = GOOD.replace('webhook_secret_env = "APP1_SECRET"',
                        f'webhook_secret_file = "{secret_file}"')
    settings = settings_from(tmp_path, text, APP1_SECRET="")
    assert settings.hosts.get("app1").webhook.secret == SECRET1


def test_the_single_host_variables_are_hosts_named_by_their_keys():
    old = new_secret()
    settings = Settings.from_env({
        "VF_HOST_KEYS": f"{entry_for('acme', KEY1)},{entry_for('acme', old)},"
                        f"{entry_for('beta', KEY2)}",
        "VF_GRANT_KEYS": GRANT_KEY, "VF_WEBHOOK_URL": "https://hooks.example/x",
        "VF_WEBHOOK_SECRET": SECRET1, "VF_MODES": "console,oauth",
        "VF_ALLOWED_ORIGINS": "https://app.example", "VF_USER_CREATE_RATE": "3/hour"})
    acme, beta = settings.hosts
    assert settings.hosts.by_key(old) is acme and settings.hosts.by_key(KEY2) is beta
    shared = Webhook("https://hooks.example/x", SECRET1)
    for host in (acme, beta):
        assert host.modes == (LoginMode.CONSOLE, LoginMode.OAUTH)
        assert host.origins == ()  # any; VF_ALLOWED_ORIGINS stays the CORS list
        assert host.webhook == shared
        assert (host.user_create_rate, host.user_refresh_rate) == ("3/hour", "60/hour")
    assert settings.allowed_origins == ("https://app.example",)
    # As before: every event goes to VF_WEBHOOK_URL, a host-less login's too.
    assert settings.hosts.webhook_for("") == settings.hosts.webhook_for("acme") == shared
    assert not Settings.from_env({}).hosts


@pytest.mark.parametrize("env, named", [
    ({"VF_HOST_KEYS": entry_for("acme", KEY1)}, "VF_HOST_KEYS"),
    ({"VF_WEBHOOK_URL": "https://hooks.example/x", "VF_WEBHOOK_SECRET": SECRET1},
     "VF_WEBHOOK_URL, VF_WEBHOOK_SECRET"),
    ({"VF_ALLOWED_ORIGINS": "https://app.example"}, "VF_ALLOWED_ORIGINS"),
])
def test_the_file_and_the_single_host_variables_together_stop_the_start(tmp_path, env, named):
    with pytest.raises(ConfigError, match=f"VF_HOSTS_FILE is set, and so is {named}: "):
        settings_from(tmp_path, GOOD, **env)


def test_a_hosts_file_without_grant_keys_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="VF_HOSTS_FILE is set but VF_GRANT_KEYS is not"):
        settings_from(tmp_path, GOOD, VF_GRANT_KEYS="")


ONE = f"""\
[hosts.app1]
keys = ["{SHA1}"]
webhook_url = "https://app1.example/hooks"
webhook_secret_env = "APP1_SECRET"
"""
"""One good host (its webhook on lines 3-4); each case below changes it."""


def _with(line: str) -> str:
    return ONE + line + "\n"


REFUSALS = [
    # (case, file text, extra environment, the message's beginning after the path)
    ("unknown top-level key", "title = 'x'\n" + ONE, {}, "line 1, title: unknown key 'title'"),
    ("unknown host key", _with('webhok_url = "x"'), {},
     "line 5, [hosts.app1] webhok_url: unknown key 'webhok_url'"),
    ("host without keys", ONE.replace(f'"{SHA1}"', ""), {},
     "line 2, [hosts.app1] keys: a host needs at least one key"),
    ("host with no keys line", ONE.replace(f'keys = ["{SHA1}"]\n', ""), {},
     "line 1, [hosts.app1] keys: a host needs at least one key"),
    ("key not a digest", ONE.replace(SHA1, "md5:" + "0" * 32), {},
     "line 2, [hosts.app1] keys: key 1 must be sha256:<64 hex digits>"),
    ("keys not a list", ONE.replace(f'["{SHA1}"]', f'"{SHA1}"'), {},
     "line 2, [hosts.app1] keys: must be a list of strings"),
    ("one key for two hosts", ONE + f'[hosts.app2]\nkeys = ["{SHA1}"]\n', {},
     "line 6, [hosts.app2] keys: a key of [hosts.app1] too"),
    ("a mode VF_MODES does not offer", _with('modes = ["setup-token"]'),
     {"VF_MODES": "oauth,console"},
     "line 5, [hosts.app1] modes: 'setup-token' is not a mode VF_MODES offers (oauth, console)"),
    ("an unknown mode", _with('modes = ["sso"]'), {},
     "line 5, [hosts.app1] modes: 'sso' is not a mode VF_MODES offers"),
    ("no modes", _with("modes = []"), {}, "line 5, [hosts.app1] modes: must name at least one"),
    ("a mode twice", _with('modes = ["console", "console"]'), {},
     "line 5, [hosts.app1] modes: names console twice"),
    ("an inline secret", _with('webhook_secret = "' + "x" * 20 + '"'), {},
     "line 5, [hosts.app1] webhook_secret: a secret is never written in the file"),
    ("secret variable unset", ONE, {"APP1_SECRET": ""},
     "line 4, [hosts.app1] webhook_secret_env: the environment variable 'APP1_SECRET' is not "
     "set or empty"),
    ("secret too short", ONE, {"APP1_SECRET": "short-secret"},
     "line 4, [hosts.app1] webhook_secret_env: the secret in 'APP1_SECRET' must be at least 16"),
    ("secret file missing", ONE.replace('webhook_secret_env = "APP1_SECRET"',
                                        'webhook_secret_file = "/nonexistent/secret"'), {},
     "line 4, [hosts.app1] webhook_secret_file: the file '/nonexistent/secret' cannot be read: "
     "No such file or directory"),
    ("two secret sources", _with('webhook_secret_file = "/run/secrets/x"'), {},
     "line 5, [hosts.app1] webhook_secret_file: give the secret that signs its events once"),
    ("a URL without a secret", ONE.replace('webhook_secret_env = "APP1_SECRET"\n', ""), {},
     "line 3, [hosts.app1] webhook_url: give the secret that signs its events once"),
    ("a secret without a URL", ONE.replace('webhook_url = "https://app1.example/hooks"\n', ""),
     {}, "line 3, [hosts.app1] webhook_secret_env: webhook_url and its secret go together"),
    ("an http URL off loopback", ONE.replace("https://app1", "http://app1"), {},
     "line 3, [hosts.app1] webhook_url: must be an https URL"),
    ("one secret for two hosts", ONE + f'[hosts.app2]\nkeys = ["{SHA2}"]\n'
     'webhook_url = "https://app2.example/hooks"\nwebhook_secret_env = "APP1_SECRET"\n', {},
     "line 8, [hosts.app2] webhook_secret_env: the same secret as [hosts.app1]"),
    ("an origin with a path", _with('origins = ["https://app.example/path"]'), {},
     "line 5, [hosts.app1] origins: 'https://app.example/path' is not a web origin"),
    ("a rate the limiter cannot read", _with('user_create_rate = "lots"'), {},
     "line 5, [hosts.app1] user_create_rate: 'lots' is not a rate"),
    ("a bad host name", ONE.replace("[hosts.app1]", '[hosts."app 1"]'), {},
     "line 1, [hosts.app 1]: a host name is letters"),
    ("no hosts", "", {}, "no hosts: give each host app a [hosts.NAME] table"),
    ("not TOML", ONE + "keys = [\n", {}, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "env", "message"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_a_bad_hosts_file_stops_the_start_naming_line_host_and_key(tmp_path, text, env,
                                                                     message):
    path = tmp_path / "hosts.toml"
    with pytest.raises(ConfigError) as refused:
        settings_from(tmp_path, text, **env)
    assert str(refused.value).startswith(f"VF_HOSTS_FILE {path}: {message}"), refused.value
    assert "x" * 20 not in str(refused.value) and "short-secret" not in str(refused.value)


def test_an_unreadable_hosts_file_stops_the_start(tmp_path):
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=re.escape(f"VF_HOSTS_FILE {missing} cannot be read: "
                                                    "No such file or directory")):
        Settings.from_env({**ENV, "VF_HOSTS_FILE": str(missing)})


# -- a ticket never allows more than its host -----------------------------------------
@pytest.fixture
def two_hosts(api: ApiClient, tmp_path: Path) -> ApiClient:
    settings = settings_from(tmp_path, GOOD)
    return api.with_settings(file_hosts=settings.file_hosts, grant_keys=settings.grant_keys)


def mint(api: ApiClient, key: str, **body: object) -> tuple[int, dict]:
    response = api.client.post("/api/auth/tickets", json={"end_user": "user-1", **body},
                               headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.get_json()


def create(api: ApiClient, ticket: str, mode: str | None = None,
           origin: str | None = APP2_ORIGIN) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {ticket}", **({"Origin": origin} if origin else {})}
    response = api.client.post("/api/auth/sessions", json={} if mode is None else {"mode": mode},
                               headers=headers)
    return response.status_code, response.get_json()


def error(answer: tuple[int, dict]) -> tuple[int, str]:
    return answer[0], answer[1]["error"]["code"] if "error" in answer[1] else "ok"


def test_a_ticket_allows_only_the_modes_its_host_offers(two_hosts):
    assert error(mint(two_hosts, KEY2, modes=["oauth"])) == (403, "mode_not_allowed")
    ticket = mint(two_hosts, KEY2, modes=["oauth", "console"])[1]["ticket"]
    assert error(create(two_hosts, ticket, "oauth")) == (403, "mode_not_allowed")
    status, session = create(two_hosts, ticket)  # no mode named: the host's first
    assert (status, session["mode"]) == (202, "console")
    two_hosts.call("DELETE", session)


def test_a_ticket_is_used_only_from_its_host_s_origins(two_hosts):
    assert error(mint(two_hosts, KEY2, origin="https://evil.example")) == (
        403, "origin_not_allowed")
    ticket = mint(two_hosts, KEY2)[1]["ticket"]
    for origin in ("https://evil.example", None, "null"):
        assert error(create(two_hosts, ticket, "console", origin)) == (403, "origin_not_allowed")
    status, session = create(two_hosts, ticket, "console")
    assert status == 202
    two_hosts.call("DELETE", session)
    # app1 lists no origins: its tickets work from anywhere, or from no browser at all.
    status, session = create(two_hosts, mint(two_hosts, KEY1)[1]["ticket"], origin=None)
    assert (status, session["mode"]) == (202, "oauth")
    two_hosts.call("DELETE", session)


def test_cors_answers_only_the_origins_hosts_list(two_hosts):
    def preflight(origin: str) -> str | None:
        return two_hosts.client.options("/api/auth/sessions", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"}).headers.get(
            "Access-Control-Allow-Origin")

    assert preflight(APP2_ORIGIN) == APP2_ORIGIN
    assert preflight("https://evil.example") is None


def test_a_ticket_minted_before_its_host_was_narrowed_or_removed_is_judged_by_now(
        two_hosts, tmp_path):
    ticket = mint(two_hosts, KEY1, modes=["oauth"])[1]["ticket"]
    narrowed = settings_from(tmp_path, GOOD.replace(
        'user_create_rate = "5/hour"', 'user_create_rate = "5/hour"\nmodes = ["console"]'))
    later = two_hosts.with_settings(file_hosts=narrowed.file_hosts,
                                    grant_keys=narrowed.grant_keys)
    assert error(create(later, ticket, "oauth")) == (403, "mode_not_allowed")
    gone = settings_from(tmp_path, GOOD.split("[hosts.app1]")[0] + "[hosts.app2]" +
                         GOOD.split("[hosts.app2]")[1])
    without = two_hosts.with_settings(file_hosts=gone.file_hosts, grant_keys=gone.grant_keys)
    assert error(create(without, ticket, "oauth")) == (401, "ticket_invalid")
    assert error(mint(without, KEY1)) == (401, "unauthorized")


def test_each_host_s_creations_are_limited_by_its_own_rate(two_hosts, tmp_path):
    limited = settings_from(tmp_path, GOOD.replace('"5/hour"', '"1/hour"'))
    api = two_hosts.with_settings(file_hosts=limited.file_hosts, grant_keys=limited.grant_keys,
                                  user_create_rate="100/hour")
    first = create(api, mint(api, KEY1)[1]["ticket"])
    assert first[0] == 202
    assert error(create(api, mint(api, KEY1)[1]["ticket"])) == (429, "rate_limited")
    other = create(api, mint(api, KEY2)[1]["ticket"])  # the same user id at app2
    assert other[0] == 202
    for _, session in (first, other):
        api.call("DELETE", session)


# -- events go to their own host's endpoint --------------------------------------------
def test_events_are_queued_only_for_a_host_with_a_webhook(tmp_path):
    settings = settings_from(tmp_path, GOOD.replace(
        'webhook_url = "https://app1.example/hooks"\nwebhook_secret_env = "APP1_SECRET"\n', ""))
    queued: list[str] = []
    sink = sink_for(settings.hosts, lambda *a, **k: queued.append(k["args"][0]))
    assert isinstance(sink, DeliveringSink)
    for host in ("app1", "app2", "gone", ""):
        sink.emit(EventType.LOGIN_CREATED, Subject(host, "user-1", f"sid-{host}", "console"))
    assert [host_of(body) for body in queued] == ["app2"]
    assert settings.hosts.webhook_for("app2") == Webhook("http://127.0.0.1:9/hooks", SECRET2)
    assert settings.hosts.webhook_for("app1") is None
    assert settings.hosts.webhook_for("gone") is None and settings.hosts.webhook_for("") is None
    assert host_of("not json") == "" and host_of('{"data": {"host": 5}}') == ""
