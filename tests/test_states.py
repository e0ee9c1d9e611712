"""The state machine, as a table."""

from __future__ import annotations

import itertools

import pytest

from vaporforge.session.states import (
    TRANSITIONS,
    Event,
    InvalidTransition,
    SessionState,
    implied_event,
    transition,
)

S, E = SessionState, Event

ALLOWED = [
    (S.STARTING, E.TAKEN, S.STARTING),
    (S.STARTING, E.BOUND, S.AWAITING_CODE),
    (S.STARTING, E.URL_PUBLISHED, S.AWAITING_CODE),
    (S.AWAITING_CODE, E.CODE_SUBMITTED, S.VERIFYING),
    (S.VERIFYING, E.CODE_REJECTED, S.AWAITING_CODE),
    (S.VERIFYING, E.SUCCEEDED, S.READY),
    (S.READY, E.CLAIMED, S.CLAIMED),
    (S.STARTING, E.FAILED, S.FAILED),
    (S.AWAITING_CODE, E.FAILED, S.FAILED),
    (S.VERIFYING, E.FAILED, S.FAILED),
    (S.STARTING, E.EXPIRED, S.EXPIRED),
    (S.AWAITING_CODE, E.EXPIRED, S.EXPIRED),
    (S.VERIFYING, E.EXPIRED, S.EXPIRED),
    (S.READY, E.EXPIRED, S.EXPIRED),
    (S.STARTING, E.CANCELLED, S.CANCELLED),
    (S.AWAITING_CODE, E.CANCELLED, S.CANCELLED),
    (S.VERIFYING, E.CANCELLED, S.CANCELLED),
    (S.READY, E.CANCELLED, S.CANCELLED),
]


@pytest.mark.parametrize(("state", "event", "after"), ALLOWED)
def test_allowed_transitions(state, event, after):
    assert transition(state, event) is after


def test_the_table_is_exactly_the_documented_one():
    assert set(TRANSITIONS.items()) == {((s, e), a) for s, e, a in ALLOWED}


REFUSED = [(s, e) for s, e in itertools.product(S, E)
           if (s, e) not in {(a, b) for a, b, _ in ALLOWED}]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_pair_is_refused(state, event):
    with pytest.raises(InvalidTransition):
        transition(state, event)


@pytest.mark.parametrize("state", [S.CLAIMED, S.FAILED, S.EXPIRED, S.CANCELLED])
def test_terminal_states_have_no_way_out(state):
    assert state.terminal
    assert not any(transition_from == state for transition_from, _ in TRANSITIONS)


@pytest.mark.parametrize(("state", "now", "owned", "beat", "payload", "expected"), [
    (S.STARTING, 100, False, False, False, None),              # queued, not yet taken
    (S.STARTING, 100, True, True, False, None),
    (S.STARTING, 100, True, False, False, (E.FAILED, "worker_lost")),
    (S.AWAITING_CODE, 100, True, False, False, (E.FAILED, "worker_lost")),
    (S.VERIFYING, 100, True, True, False, None),
    (S.AWAITING_CODE, 200, True, True, False, (E.EXPIRED, "expired")),
    (S.STARTING, 200, False, False, False, (E.EXPIRED, "expired")),
    (S.READY, 100, True, False, True, None),                   # the worker is done: no beat
    (S.READY, 100, True, False, False, (E.EXPIRED, "credentials_expired")),
    (S.READY, 200, True, False, True, (E.EXPIRED, "expired")),
    (S.CLAIMED, 200, True, False, False, None),
    (S.FAILED, 200, True, False, False, None),
    (S.STARTING, 120, False, False, False, (E.FAILED, "not_started")),  # nobody took it
    (S.STARTING, 120, True, True, False, None),                # taken in time
])
def test_implied_events(state, now, owned, beat, payload, expected):
    got = implied_event(state, now=now, expires_at=150, owned=owned, heartbeat_alive=beat,
                        payload_present=payload, start_by=110)
    assert (got[:2] if got else None) == expected


@pytest.mark.parametrize("state", list(S))
def test_the_url_shows_only_while_the_cli_waits_for_a_code(state):
    assert state.shows_url is (state in (S.AWAITING_CODE, S.VERIFYING))
