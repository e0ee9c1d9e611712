"""Redis through Sentinel: the session store, the rate limiter and the Celery
broker find the master through real sentinels, keep the documented databases,
and follow a failover (the master SIGKILLed mid-flow) without restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.inprocess import ApiClient
from tests.support.processes import keys_without_ttl, wait_for
from tests.support.sentinel_group import (
    FAILOVER_BOUND,
    LOGIN_COMMAND,
    SentinelGroup,
    failover_flow,
    start_sentinel_group,
)
from tests.support.stack import running_stack
from vaporforge import connections, defaults
from vaporforge.errors import ConfigError
from vaporforge.settings import Settings


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    running = start_sentinel_group(tmp_path / "sentinel")
    yield running
    running.stop()


def test_sentinel_settings():
    settings = Settings.from_env({"VF_REDIS_SENTINELS": " s1:26379, [::1]:26380 ,",
                                  "REDIS_URL": "redis://:pw@ignored:6379/4"})
    assert settings.redis_sentinels == (("s1", 26379), ("::1", 26380))
    assert settings.redis_sentinel_master == "mymaster"
    assert settings.broker_url == "redis://:pw@ignored:6379/5"
    assert Settings.from_env({}).redis_sentinels == ()


@pytest.mark.parametrize("env", [
    {"VF_REDIS_SENTINELS": "s1"},
    {"VF_REDIS_SENTINELS": "s1:port"},
    {"VF_REDIS_SENTINELS": ":26379"},
    {"VF_REDIS_SENTINELS": "s1:70000"},
    {"VF_REDIS_SENTINELS": "s1:26379", "VF_REDIS_SENTINEL_MASTER": "a/b"},
    {"VF_REDIS_SENTINELS": "s1:26379", "REDIS_URL": "rediss://r:6379/0"},
    {"VF_REDIS_SENTINELS": "s1:26379", "VF_BROKER_URL": "unix:///run/redis.sock"},
])
def test_bad_sentinel_settings_are_refused(env):
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_the_api_keeps_the_documented_databases_through_sentinel(group):
    """REDIS_URL's host names nothing; its database and password are used on
    whichever server the sentinels name master."""
    api = ApiClient.build(group.store_url(6), **_sentinel_settings(group))
    created = api.client.post("/api/auth/sessions", json={"mode": "oauth"})
    assert created.status_code == 202, created.get_json()
    master = group.master_port()
    store, broker = group.client(master, 6), group.client(master, 7)
    keys = store.keys("*")
    assert f"vf:session:{created.get_json()['session_id']}" in keys
    assert any("vf:limit" in key for key in keys)  # the rate limiter's counter
    assert broker.llen(defaults.LOGIN_QUEUE) == 1  # the queued task
    assert keys_without_ttl(store) == []


def test_a_planned_switchover_is_followed_without_errors_by_the_worker(group):
    """``SENTINEL FAILOVER``: the old master stays up and writable until the
    sentinels demote it. The worker's and the API's clients both move to the
    new master soon after the switch; no error reaches the worker's caller."""
    settings = Settings.from_env({**group.env(), "REDIS_URL": group.store_url(4)})
    worker = connections.store_client(settings, max_connections=4)
    api = connections.store_client(settings)
    worker.set("vf:test:before", "1", ex=60)
    api.set("vf:test:before", "2", ex=60)
    old = group.master_port()
    group.sentinel().sentinel_failover(group.name)
    wait_for(lambda: group.master_port() != old, what="the switchover")
    # The sentinels demote the old master only ~10 s after the switch, and what
    # is written there meanwhile is lost; the clients must leave it well before
    # (they ask the sentinels every second), each call returning normally.
    new = group.client(group.master_port(), 4)
    wait_for(lambda: worker.set("vf:test:after", "1", ex=60) and new.exists("vf:test:after"),
             timeout=5, interval=0.2, what="the worker's client to reach the new master")

    def api_reaches_new_master() -> bool:
        try:
            api.set("vf:test:api", "1", ex=60)
        except redis.ConnectionError:
            return False
        return bool(new.exists("vf:test:api"))
    wait_for(api_reaches_new_master, timeout=5, interval=0.2,
             what="the API's client on the new master")


def test_failover_mid_flow(group, work_root):
    with running_stack(group.store_url(2), work_root, "sentinel", extra_env=group.env(),
                       login_command=LOGIN_COMMAND) as stack:
        try:
            run = failover_flow(stack, group)
            print(f"failover gap (SIGKILL to a new session awaiting_code): {run.gap:.2f} s; "
                  f"first 202 after {run.accepted:.2f} s, {run.refused} refused before; "
                  f"in flight: {run.in_flight}; "
                  f"created during the failover: {run.during}")
            assert run.gap < FAILOVER_BOUND
            # The logins that waited for a code, or exchanged one, rode it out.
            assert run.in_flight == ["claimed"] * 3
            new_master = group.client(group.master_port(), 2)
            assert new_master.keys("vf:*")
            assert keys_without_ttl(new_master) == []
        except BaseException:
            print(stack.logs()[-6000:])
            raise


def _sentinel_settings(group: SentinelGroup) -> dict:
    env = Settings.from_env({**group.env(), "REDIS_URL": group.store_url(0)})
    return {"redis_sentinels": env.redis_sentinels,
            "redis_sentinel_master": env.redis_sentinel_master}
