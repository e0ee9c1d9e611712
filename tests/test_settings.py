"""Settings read from the environment."""

from __future__ import annotations

import pytest

from vaporforge.settings import ConfigError, Settings


def test_defaults():
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.broker_url == "redis://127.0.0.1:6379/1"
    assert settings.runtime == "local"
    assert settings.login_command == ("claude",)
    assert (settings.session_ttl, settings.credentials_ttl) == (900, 120)


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"REDIS_URL": "redis://r:6379/4"}, "broker_url", "redis://r:6379/5"),
    ({"REDIS_URL": "redis://r:6379/4", "VF_BROKER_URL": "redis://b/0"}, "broker_url",
     "redis://b/0"),
    ({"VF_LOGIN_COMMAND": "/usr/bin/python3 /opt/sim.py --wrap 60"}, "login_command",
     ("/usr/bin/python3", "/opt/sim.py", "--wrap", "60")),
    ({"VF_SESSION_TTL": "30"}, "session_ttl", 30),
    ({"VF_CREDENTIALS_TTL": "5"}, "credentials_ttl", 5),
    ({"VF_CODE_WAIT_TIMEOUT": "7"}, "code_wait_timeout", 7),
    ({"VF_RUNTIME": "docker"}, "runtime", "docker"),
    ({"VF_LOGIN_ENV": "A=1 'B=two words'"}, "login_env", {"A": "1", "B": "two words"}),
    ({}, "deployment", "vf"),
    ({"VF_KEY_PREFIX": "vf-staging"}, "deployment", "vf-staging"),
    ({"VF_KEY_PREFIX": "vf", "VF_DEPLOYMENT": "production"}, "deployment", "production"),
])
def test_environment_overrides(env, field, value):
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize("env", [
    {"VF_SESSION_TTL": "soon"},
    {"VF_SESSION_TTL": "0"},
    {"VF_RUNTIME": "k8s"},
    {"VF_LOGIN_COMMAND": "  "},
    {"VF_LOGIN_ENV": "novalue"},
    {"VF_DEPLOYMENT": "a\tb"},
    {"VF_DEPLOYMENT": "x" * 129},
])
def test_bad_values_are_refused_with_a_config_error(env):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert info.value.code == "config_error"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().session_ttl = 1  # type: ignore[misc]


def test_deployment_defaults_to_the_key_prefix_when_built_directly():
    assert Settings(key_prefix="vf-a").deployment == "vf-a"
    assert Settings(key_prefix="vf-a", deployment="blue").deployment == "blue"
