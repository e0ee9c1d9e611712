"""Fixtures: a real redis-server, real Celery workers, a real gunicorn API.

After every test: no CLI process and no login HOME is left, and no key of the
session store lacks a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from harness import (
    SIMULATOR,
    Stack,
    cli_processes,
    keys_without_ttl,
    start_redis,
    start_stack,
    stop_stack,
    wait_for,
)

__all__ = ["SIMULATOR", "cli_processes", "start_stack", "stop_stack", "wait_for"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture
def store_client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack(redis_server: str, work_root: Path) -> Iterator[Stack]:
    running = start_stack(redis_server, work_root, "main", db=2)
    yield running
    stop_stack(running)


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest, work_root: Path) -> Iterator[None]:
    """After each test: no CLI process, no login HOME, no store key without TTL."""
    yield
    if request.node.get_closest_marker("leaves_sessions"):
        return
    wait_for(lambda: not cli_processes(), timeout=20, what="every CLI process to end")
    homes = lambda: [p for p in work_root.glob("*/homes/*")]  # noqa: E731
    wait_for(lambda: not homes(), timeout=20, what="every login HOME to be removed")
    if "redis_server" in request.fixturenames:
        url = request.getfixturevalue("redis_server")
        for db in range(0, 16, 2):  # store databases; odd ones are Celery's broker
            client = redis.Redis.from_url(url.rsplit("/", 1)[0] + f"/{db}")
            assert keys_without_ttl(client) == [], f"keys without TTL in db {db}"
