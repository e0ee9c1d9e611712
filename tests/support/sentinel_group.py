"""A real Redis Sentinel deployment on loopback ports, for tests and benchmarks:
a master, a replica of it and sentinels that watch them (``redis-server
--sentinel``), all requiring a password, with short failure detection so a
failover completes in seconds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests
from redis.sentinel import Sentinel

from tests.support.processes import SIMULATOR, free_port, redis_server, start_redis, wait_for
from tests.support.stack import Stack

PASSWORD = "sentinel-test-password"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


@dataclass
class SentinelGroup:
    name: str
    folder: Path
    servers: dict[int, subprocess.Popen] = field(default_factory=dict)
    """redis-server processes by port (the master and its replica)."""
    sentinels: dict[int, subprocess.Popen] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """What the broker's processes need to reach Redis through the sentinels."""
        return {"VF_REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in self.sentinels),
                "VF_REDIS_SENTINEL_MASTER": self.name}

    def store_url(self, db: int) -> str:
        """A REDIS_URL whose host names nothing: through Sentinel only the
        database number and the password count."""
        return f"redis://:{PASSWORD}@nowhere.invalid:1/{db}"

    def sentinel(self) -> redis.Redis:
        """A client of one of the sentinels."""
        return redis.Redis(port=next(iter(self.sentinels)), socket_timeout=2)

    def master_port(self) -> int:
        sentinel = Sentinel([("127.0.0.1", p) for p in self.sentinels],
                            sentinel_kwargs={"socket_timeout": 1})
        return int(sentinel.discover_master(self.name)[1])

    def client(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(port=port, db=db, password=PASSWORD, decode_responses=True,
                           socket_timeout=2)

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port()
        proc = self.servers.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        return port

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            proc.terminate()
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _sentinel_ready(port: int, name: str, others: int) -> bool:
    try:
        state = redis.Redis(port=port, socket_timeout=1).sentinel_master(name)
    except redis.RedisError:
        return False
    return state["num-slaves"] >= 1 and state["num-other-sentinels"] >= others


def start_sentinel_group(folder: Path, name: str = "vfmaster", sentinels: int = 3,
                         quorum: int = 2) -> SentinelGroup:
    """Start a master, a synced replica and ``sentinels`` sentinels that all
    know the replica and each other (so a failover can happen at once)."""
    group = SentinelGroup(name, folder)
    auth = ["--requirepass", PASSWORD, "--masterauth", PASSWORD,
            "--repl-diskless-sync-delay", "0"]
    try:
        master_dir, replica_dir = folder / "master", folder / "replica"
        master_dir.mkdir(parents=True)
        replica_dir.mkdir()
        proc, url = start_redis(master_dir, args=auth, password=PASSWORD)
        master_port = int(url.rsplit(":", 1)[1].split("/")[0])
        group.servers[master_port] = proc
        proc, url = start_redis(replica_dir, password=PASSWORD,
                                args=[*auth, "--replicaof", "127.0.0.1", str(master_port)])
        replica_port = int(url.rsplit(":", 1)[1].split("/")[0])
        group.servers[replica_port] = proc
        wait_for(lambda: group.client(replica_port).info("replication")
                 .get("master_link_status") == "up", what="the replica to sync")
        for index in range(sentinels):
            port = free_port()
            conf = folder / f"sentinel-{index}.conf"  # sentinels rewrite their own file
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n"
                f"sentinel auth-pass {name} {PASSWORD}\n"
                f"sentinel down-after-milliseconds {name} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {name} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {name} 1\n")
            group.sentinels[port] = subprocess.Popen(
                [redis_server(), str(conf), "--sentinel"],
                stdout=open(folder / f"sentinel-{index}.log", "w"),  # noqa: SIM115
                stderr=subprocess.STDOUT)
        for port in group.sentinels:
            wait_for(lambda port=port: _sentinel_ready(port, name, sentinels - 1),
                     timeout=20, interval=0.2, what="the sentinels to know each other")
    except BaseException:
        group.stop()
        raise
    return group


# -- a flow through a failover ------------------------------------------------------
FAILOVER_BOUND = 30.0
"""Seconds within which new sessions must work again after the master dies."""
CODE = "recovery-authorization-code-0001#state-0001"


@dataclass
class FailoverRun:
    gap: float
    """Seconds from the master's SIGKILL to the first new session seen in awaiting_code."""
    in_flight: list[str]
    """How each session that was awaiting a code or exchanging one at the kill
    ended (``claimed``, or its state and error code)."""
    during: list[str]
    """The same for the sessions created while the failover went on."""
    refused: int
    """Creations answered 503 during the failover."""
    accepted: float
    """Seconds from the SIGKILL to the first creation answered 202."""


def _status(stack: Stack, session: dict) -> dict | None:
    """The session's status, or None while the API answers 503 (store unavailable)."""
    response = stack.call("GET", session)
    if response.status_code == 503:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def _await(stack: Stack, session: dict, done: Callable[[dict], bool], timeout: float) -> dict:
    last: list[dict] = []

    def check() -> dict | None:
        status = _status(stack, session)
        if status is not None:
            last[:] = [status]
        return status if status is not None and done(status) else None
    try:
        return wait_for(check, timeout=timeout, interval=0.1, what="the session")
    except AssertionError:
        raise AssertionError(f"session stuck; last seen {last}") from None


def _finish(stack: Stack, session: dict) -> str:
    """Drive a session to its end: a code if it waits for one, then the claim;
    returns ``claimed`` or the state and error code it ended with."""
    status = _await(stack, session, lambda s: s["state"] != "starting", 60)
    if status["state"] == "awaiting_code":
        response = stack.call("POST", session, "/code", json={"code": CODE})
        assert response.status_code in (202, 409), response.text
        status = _await(stack, session, lambda s: s["state"] not in ("awaiting_code",
                                                                        "verifying"), 60)
    if status["state"] == "ready":
        claim = stack.call("POST", session, "/credentials")
        assert claim.status_code == 200, claim.text
        assert claim.json()["credentials"]["claudeAiOauth"]["accessToken"]
        return "claimed"
    assert status["state"] in TERMINAL, status
    assert status["error"] is None or status["error"]["code"], status
    return f"{status['state']}/{(status['error'] or {}).get('code')}"


TERMINAL = ("claimed", "failed", "expired", "cancelled")


SLOW_ANSWER = 2.0
"""Seconds the simulator takes to answer a code: an exchange spans the failover."""
LOGIN_COMMAND = f"{sys.executable} {SIMULATOR} --slow-answer {SLOW_ANSWER}"
"""The stack's login command for :func:`failover_flow`."""


def failover_flow(stack: Stack, group: SentinelGroup, waiting: int = 2,
                  exchanging: int = 1) -> FailoverRun:
    """Sessions awaiting a code and sessions whose code the CLI is exchanging
    (the stack runs :data:`LOGIN_COMMAND`), then SIGKILL the master: measure how
    long until a new session reaches awaiting_code, then drive every session to
    its end. ``in_flight`` lists the waiting ones first."""
    in_flight = [stack.create("oauth") for _ in range(waiting + exchanging)]
    for session in in_flight:
        stack.wait_state(session, "awaiting_code")
    for session in in_flight[waiting:]:
        response = stack.call("POST", session, "/code", json={"code": CODE})
        assert response.status_code == 202, response.text
    killed_at = time.monotonic()
    group.kill_master()
    during: list[dict] = []
    refused, gap, accepted = 0, None, None
    while gap is None:
        assert time.monotonic() - killed_at < FAILOVER_BOUND, \
            f"no new session worked within {FAILOVER_BOUND} s of the master's death"
        response = requests.post(stack.url("/api/auth/sessions"), json={"mode": "oauth"},
                                 timeout=30)
        if response.status_code == 503:
            assert response.json()["error"]["code"] in ("store_unavailable", "at_capacity"), \
                response.text
            refused += 1
            time.sleep(0.2)
            continue
        assert response.status_code == 202, response.text
        accepted = accepted or time.monotonic() - killed_at
        during.append(response.json())
        status = _await(stack, during[-1], lambda s: s["state"] != "starting", FAILOVER_BOUND)
        if status["state"] == "awaiting_code":
            gap = time.monotonic() - killed_at
    return FailoverRun(gap, [_finish(stack, s) for s in in_flight],
                       [_finish(stack, s) for s in during], refused, accepted or gap)
