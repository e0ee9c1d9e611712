"""A setup-token session through the broker whose CLI wraps the token (issue 8, defect 4).

The simulator with ``--wrap 50`` hard-wraps the 108-character token over three
lines in its colour, as the real CLI does at 50 columns (docs/CLI-FINDINGS.md).
Real HTTP, Celery and Redis; the claim must hold the whole token.
"""

from __future__ import annotations

import sys

import pytest

from tests.support.cli_simulator import FULL_CODE, tokens_for
from tests.support.processes import SIMULATOR
from tests.support.stack import running_stack

WRAP = 50


@pytest.fixture(scope="module")
def narrow(databases, work_root):
    with running_stack(databases, work_root, "narrow",
                       login_command=f"{sys.executable} {SIMULATOR} --wrap {WRAP}",
                       extra_env={"VF_EXCHANGE_TIMEOUT": "5"}) as stack:
        yield stack


def test_a_wrapped_token_is_handed_out_whole(narrow):
    code = "narrow-terminal-code-0123456789#state"
    _, claimed = narrow.sign_in("setup-token", code)
    body = claimed.json()
    token = tokens_for(code)["access"]
    assert len(token) > 2 * (WRAP - 1)  # it took three lines on screen
    assert body == {"mode": "setup-token", "credentials": {"oauth_token": token}}


def test_a_refused_setup_token_paste_is_answered_and_the_next_one_read(narrow):
    """2.1.332 shows the refusal under its input box and keeps reading."""
    session = narrow.create("setup-token")
    first = narrow.wait_state(session, "awaiting_code")["oauth_url"]
    assert narrow.call("POST", session, "/code", json={"code": "abc"}).status_code == 202
    status = narrow.wait_state(session, "awaiting_code", "failed")
    assert status["error"] == {"code": "invalid_code", "message": FULL_CODE}
    assert status["oauth_url"] == first
    code = "second-paste-code-0123456789#state"
    assert narrow.call("POST", session, "/code", json={"code": code}).status_code == 202
    narrow.wait_state(session, "ready")
    body = narrow.call("POST", session, "/credentials").json()
    assert body["credentials"] == {"oauth_token": tokens_for(code)["access"]}
