"""Fixtures: a real redis-server, real Celery workers, a real gunicorn API, and
the Flask test client on the same real Redis for HTTP behaviour that needs no
worker.

Every stack and every in-process test gets its own Redis databases
(:class:`tests.support.Databases`). After every test: no CLI process and no login
HOME is left, and no key of a store database lacks a TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser_kit import chromium_path
from tests.support.checks import assert_every_key_expires, assert_nothing_left
from tests.support.fake_oauth.server import FakeOAuthServer
from tests.support.inprocess import ApiClient
from tests.support.processes import Databases, free_port, keys_without_ttl, start_redis
from tests.support.socket_proxy_kit import ProxyKit, proxy_kit_for
from tests.support.stack import Stack, running_stack
from tests.support.tiers import mark_tiers
from vaporforge.session.store import SessionStore


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tiers(items)  # the markers stack and browser, for make test-quick


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def databases(redis_server: str) -> Databases:
    return Databases(redis_server)


@pytest.fixture
def redis_db(databases: Databases) -> Iterator[str]:
    """An empty store database (its broker database is the next one) for one
    test; afterwards no key in it may lack a TTL."""
    url = databases.allocate()
    yield url
    try:
        assert keys_without_ttl(redis.Redis.from_url(url)) == [], f"keys without TTL in {url}"
    finally:
        databases.release(url)


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture
def store_client(redis_db: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_db, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(store_client: redis.Redis) -> SessionStore:
    """A session store on the test's own database (see :mod:`tests.support.records`)."""
    return SessionStore(store_client, "unit")


@pytest.fixture(scope="session")
def stack(databases: Databases, work_root: Path) -> Iterator[Stack]:
    with running_stack(databases, work_root, "main") as running:
        yield running


@pytest.fixture
def api(redis_db: str) -> ApiClient:
    """The API in-process (Flask's test client) on a real Redis of its own."""
    return ApiClient.build(redis_db)


@pytest.fixture(autouse=True)
def nothing_left_behind(request: pytest.FixtureRequest, work_root: Path) -> Iterator[None]:
    """After each test: no CLI process, no login HOME, no store key without TTL."""
    yield
    if request.node.get_closest_marker("keeps_warm_entries"):
        return  # its module's fixture checks the same once its pool is stopped
    assert_nothing_left(work_root)
    if "databases" in request.fixturenames:  # the stacks' databases
        assert_every_key_expires(request.getfixturevalue("databases").held)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOAuthServer]:
    """A loopback stand-in of the sign-in service's token endpoint, per module."""
    server = FakeOAuthServer(port=0, tls=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def host_port() -> int:
    """The port of a host app on another origin (it must be allowed before the API
    starts), per module."""
    return free_port()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (never a downloaded build), per module."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path())
        yield launched
        launched.close()


@pytest.fixture
def proxy_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyKit]:
    """The socket proxy on the real engine (VF_DOCKER_TESTS=1), its own deployment."""
    with proxy_kit_for(tmp_path_factory.mktemp("proxy")) as kit:
        yield kit
