"""Property-based checks of the API against its own OpenAPI document, in-process
(Flask's WSGI app on a real Redis; no worker, so sessions stay ``starting`` and
no CLI starts).

Excluded checks, each because the contract says otherwise on purpose:
- positive_data_acceptance: a schema-valid ``client_public_key`` is usually not a
  point on P-256 and is rightly refused (400 invalid_client_key);
- ignored_auth: a wrong token answers 404, not 401/403, so ids cannot be probed;
- use_after_free: a cancelled session stays readable (state ``cancelled``) until
  its record lapses, so the browser can see what happened.
"""

from __future__ import annotations

import logging
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support.fake_oauth import FakeOAuthServer
from tests.support.inprocess import ApiClient
from tests.support.processes import Databases


@pytest.fixture(scope="module")
def fuzz_app(databases: Databases):
    # Generated refresh tokens go to a local fake sign-in service (which refuses
    # them: 400 refresh_rejected), never to the real one.
    upstream = FakeOAuthServer(port=0, tls=False).start()
    store_url = databases.allocate()
    yield ApiClient.build(store_url, session_ttl=30, max_sessions=1_000_000,
                          token_url=upstream.url + "/v1/oauth/token",
                          refresh_rate="100000/minute").app
    databases.release(store_url)
    upstream.stop()


EXCLUDED = [openapi_checks.positive_data_acceptance, openapi_checks.ignored_auth,
            openapi_checks.use_after_free]
EXAMPLES = int(os.environ.get("VF_SCHEMATHESIS_EXAMPLES", "20"))


def test_no_5xx_and_every_response_matches_the_schema(fuzz_app, caplog):
    caplog.set_level(logging.ERROR, logger="vaporforge.api")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    calls = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            calls.append(case.call_and_validate(excluded_checks=EXCLUDED).status_code)

        check()
    assert len(calls) > 100
    assert "unhandled" not in caplog.text  # no request reached the 500 handler


def test_linked_calls_follow_the_contract(fuzz_app, caplog):
    """The stateful phase: create, then poll, code, claim and cancel the session
    just created, by the OpenAPI links."""
    caplog.set_level(logging.ERROR, logger="vaporforge.api")
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, additional_checks=additional_checks,
                                   excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    Machine.run(settings=settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                                  database=None, stateful_step_count=6,
                                  suppress_health_check=list(HealthCheck)))
    assert "unhandled" not in caplog.text
