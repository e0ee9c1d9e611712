"""VF_MODES: the sign-in modes one deployment offers, ``GET /api/auth/modes``, the
403 for any other mode, and the start-up line that points to the terms."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from api import create_app
from api.modes import MAX_AGE
from vaporforge.registry import Registry
from vaporforge.session.states import LoginMode
from vaporforge.settings import ConfigError, Settings

README = Path(__file__).resolve().parent.parent / "README.md"
ALL = ["oauth", "console", "setup-token"]


@pytest.mark.parametrize(("raw", "modes"), [
    ("", ALL),
    ("console", ["console"]),
    (" setup-token , OAUTH ", ["setup-token", "oauth"]),
    ("console,oauth,", ["console", "oauth"]),
])
def test_vf_modes_is_read_in_its_order(raw, modes):
    assert [m.value for m in Settings.from_env({"VF_MODES": raw}).modes] == modes


@pytest.mark.parametrize(("raw", "says"), [
    ("password", "'password'"),
    ("oauth,oauth", "oauth twice"),
    (" , ", "at least one mode"),
    ("console;oauth", "'console;oauth'"),
])
def test_bad_vf_modes_is_a_config_error_that_says_why(raw, says):
    with pytest.raises(ConfigError, match="VF_MODES") as info:
        Settings.from_env({"VF_MODES": raw})
    assert says in info.value.message


def test_a_warm_pool_for_a_mode_not_offered_is_refused():
    with pytest.raises(ConfigError, match="VF_WARM_POOL names oauth"):
        Settings.from_env({"VF_MODES": "console", "VF_WARM_POOL": "oauth:1"})
    assert Settings.from_env({"VF_MODES": "console", "VF_WARM_POOL": "console:1"}).warm_pool


def test_the_modes_endpoint_answers_the_deployment_s_list_and_may_be_cached(api):
    response = api.client.get("/api/auth/modes")
    assert response.status_code == 200
    assert response.get_json() == {"modes": ALL}
    assert response.headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    console = api.with_settings(modes=(LoginMode.CONSOLE, LoginMode.OAUTH))
    assert console.client.get("/api/auth/modes").get_json() == {"modes": ["console", "oauth"]}


def test_session_answers_still_say_no_store(api):
    session = api.create("oauth")
    assert api.call("GET", session).headers["Cache-Control"] == "no-store"


def test_the_modes_endpoint_is_limited_like_readyz(api):
    limited = api.with_settings(probe_rate="3/minute")
    codes = [limited.client.get("/api/auth/modes").status_code for _ in range(4)]
    assert codes == [200] * 3 + [429]
    refused = limited.client.get("/api/auth/modes")
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("mode", ["oauth", "setup-token"])
def test_a_console_only_broker_refuses_the_other_modes(api, mode):
    console = api.with_settings(modes=(LoginMode.CONSOLE,))
    response = console.client.post("/api/auth/sessions", json={"mode": mode})
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "mode_not_allowed"
    assert mode in error["message"] and "console" in error["message"]
    assert Registry.beside(console.store).count_live() == 0


def test_a_console_only_broker_starts_a_console_login(api):
    console = api.with_settings(modes=(LoginMode.CONSOLE,))
    assert console.create("console")["mode"] == "console"
    # Without a mode, the first one the deployment offers.
    assert console.create(None)["mode"] == "console"


def test_without_a_mode_the_default_deployment_still_starts_oauth(api):
    assert api.create(None)["mode"] == "oauth"


def test_the_openapi_document_describes_the_endpoint_and_the_403(api):
    spec = api.client.get("/api/openapi.json").get_json()
    operation = spec["paths"]["/api/auth/modes"]["get"]
    assert operation["operationId"] == "listModes"
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Modes")
    assert spec["components"]["schemas"]["Modes"]["required"] == ["modes"]
    assert "Cache-Control" in operation["responses"]["200"]["headers"]
    assert "403" in spec["paths"]["/api/auth/sessions"]["post"]["responses"]


def _start_line(caplog, settings: Settings) -> str:
    with caplog.at_level(logging.INFO, logger="vaporforge.api"):
        create_app({"SETTINGS": settings, "TESTING": True})
    lines = [r.getMessage() for r in caplog.records if "sign-in modes offered" in r.getMessage()]
    assert len(lines) == 1
    return lines[0]


def test_the_start_line_names_the_modes_and_points_to_the_terms(redis_db, caplog):
    line = _start_line(caplog, Settings(redis_url=redis_db))
    assert "oauth, console, setup-token" in line
    assert 'section "Before you offer it"' in line
    assert "## Before you offer it" in README.read_text()


def test_a_console_only_start_line_does_not_point_to_the_terms(redis_db, caplog):
    line = _start_line(caplog, Settings(redis_url=redis_db, modes=(LoginMode.CONSOLE,)))
    assert line == "sign-in modes offered: console"


def test_the_readme_terms_section_links_its_sources():
    section = README.read_text().split("## Before you offer it", 1)[1].split("\n## ", 1)[0]
    for link in ("https://www.anthropic.com/legal/consumer-terms",
                 "https://www.anthropic.com/legal/commercial-terms",
                 "https://code.claude.com/docs/en/legal-and-compliance"):
        assert link in section
    assert "VF_MODES=console" in section
