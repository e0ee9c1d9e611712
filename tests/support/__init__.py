"""The test kit: what tests/ and bench/ share, installed with the project
(``pyproject.toml``, ``[tool.setuptools] packages``) and imported as
``tests.support``.

- :mod:`.processes`: a real redis-server, its databases per test, waiting,
  leftovers (CLI processes, keys without a TTL);
- :mod:`.stack`: gunicorn + Celery workers on that Redis (:class:`Stack`);
- :mod:`.client`: the one API client (:class:`ApiCalls`; over HTTP
  :class:`HttpClient` and :class:`Stack`, in-process :mod:`.inprocess`);
- :mod:`.checks`: what every test must leave behind (nothing);
- :mod:`.cli_simulator`: the CLI simulator, a standalone script that workers run
  by its path (:data:`SIMULATOR`) and that the test image copies;
- :mod:`.fake_oauth`: the fake sign-in service (``python -m tests.support.fake_oauth``);
- :mod:`.browser_kit`, :mod:`.sentinel_group`, :mod:`.real_clis`: the browser
  tests' helpers, a Redis Sentinel group, the real CLIs under test.
"""

from tests.support.client import ApiCalls, HttpClient
from tests.support.processes import (
    ROOT,
    SIMULATOR,
    Databases,
    cli_processes,
    free_port,
    keys_without_ttl,
    redis_dump,
    start_redis,
    wait_for,
)
from tests.support.stack import Stack, add_worker, start_stack, stop_stack

__all__ = ["ROOT", "SIMULATOR", "ApiCalls", "Databases", "HttpClient", "Stack", "add_worker",
           "cli_processes", "free_port", "keys_without_ttl", "redis_dump", "start_redis",
           "start_stack", "stop_stack", "wait_for"]
