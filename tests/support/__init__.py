"""The test kit: what tests/ and bench/ share, installed with the project
(``pyproject.toml``, ``[tool.setuptools] packages``) and imported as
``tests.support.<module>``. This file imports nothing, so the standalone parts
(the simulator, the fake sign-in service) run on a bare Python.

- :mod:`.processes`: a real redis-server, its databases per test, waiting,
  leftovers (CLI processes, keys without a TTL);
- :mod:`.stack`: gunicorn + Celery workers on that Redis (:class:`Stack`);
- :mod:`.client`: the one API client (:class:`ApiCalls`; over HTTP
  :class:`HttpClient` and :class:`Stack`, in-process :mod:`.inprocess`);
- :mod:`.checks`: what every test must leave behind (nothing); :mod:`.tiers`:
  the markers ``stack`` and ``browser`` for ``make test-quick``;
- :mod:`.cli_simulator`: the CLI simulator, a standalone script that workers run
  by its path (``processes.SIMULATOR``) and that the test image copies;
- :mod:`.fake_oauth`: the fake sign-in service (``python -m tests.support.fake_oauth``);
- :mod:`.browser_kit`, :mod:`.sentinel_group`, :mod:`.real_clis`: the browser
  tests' helpers, a Redis Sentinel group, the real CLIs under test.
"""
