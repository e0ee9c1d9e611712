"""run_login with the local runtime and the simulator's misbehaviour switches.

Real Redis, a real CLI process under pexpect; no Celery (the task is a thin
wrapper over run_login, exercised end to end in test_e2e).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.support.cli_simulator import tokens_for
from tests.support.processes import SIMULATOR, cli_processes, wait_for
from tests.support.records import record_of
from vaporforge.errors import BrokerError, ErrorCode
from vaporforge.keys import KeyKind
from vaporforge.session import lifecycle
from vaporforge.session.record import SessionRecord
from vaporforge.session.states import LoginMode, SessionState
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings
from worker.heartbeat import Heartbeats
from worker.login import LoginContext, run_login
from worker.runtimes.local import LocalRuntime


@pytest.fixture
def make_ctx(store_client, work_root: Path):
    store_client.flushdb()
    made: list[LoginContext] = []

    def build(*switches: str, **settings) -> LoginContext:
        config = Settings(login_command=(sys.executable, str(SIMULATOR), *switches),
                          work_dir=str(work_root / "switches" / "homes"), key_prefix="t",
                          **settings)
        store = SessionStore(store_client, "t")
        ctx = LoginContext(config, store, LocalRuntime(config.work_dir),
                           Heartbeats(store, "test-owner", 5), threading.Event())
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.heartbeats.close()


def new_session(ctx: LoginContext, mode: LoginMode = LoginMode.OAUTH, ttl: int = 60) -> str:
    now = ctx.store.now()
    sid = hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:22]
    record = SessionRecord(sid, mode, SessionState.STARTING, "hash", now, now + ttl)
    ctx.store.create(record=record, max_sessions=100)
    return sid


def run_in_thread(ctx: LoginContext, sid: str) -> threading.Thread:
    thread = threading.Thread(target=run_login, args=(ctx, sid), daemon=True)
    thread.start()
    return thread


def claim(ctx: LoginContext, sid: str) -> str | None:
    return ctx.store.claim(session_id=sid, expect=SessionState.READY,
                           to=SessionState.CLAIMED).payload


def submit(ctx: LoginContext, sid: str, code: str) -> None:
    lifecycle.submit_code(ctx.store, sid, code, max_attempts=5, code_ttl=30)


def test_crash_before_url_fails_with_cli_exited(make_ctx):
    ctx = make_ctx("--crash-before-url")
    sid = new_session(ctx)
    assert run_login(ctx, sid) is SessionState.FAILED
    record = record_of(ctx.store, sid)
    assert record.error_code == "cli_exited"
    assert "simulated crash before the sign-in URL" in record.error_message


@pytest.mark.parametrize("switch", ["--short-url", "--localhost-url"])
def test_unusable_links_fail_with_url_not_found(make_ctx, switch):
    ctx = make_ctx(switch)
    sid = new_session(ctx)
    assert run_login(ctx, sid) is SessionState.FAILED
    record = record_of(ctx.store, sid)
    assert record.error_code == "url_not_found"
    assert record.oauth_url == ""


@pytest.mark.parametrize("mode", [LoginMode.OAUTH, LoginMode.SETUP_TOKEN])
def test_wrapped_visible_text_still_yields_the_whole_url(make_ctx, mode):
    ctx = make_ctx("--wrap", "60")
    sid = new_session(ctx, mode)
    thread = run_in_thread(ctx, sid)
    record = wait_for(lambda: (r := record_of(ctx.store, sid)).state is SessionState.AWAITING_CODE
                      and r, what="the URL")
    assert record.oauth_url.endswith("&code_challenge_method=S256&state=" +
                                     record.oauth_url.rsplit("&state=", 1)[1])
    assert "redirect_uri=https%3A%2F%2Fplatform.claude.com" in record.oauth_url
    submit(ctx, sid, "wrapped-code-abc#state")
    thread.join(20)
    assert record_of(ctx.store, sid).state is SessionState.READY


def test_slow_start_is_waited_for(make_ctx):
    ctx = make_ctx("--slow-start", "0.8")
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: cli_processes(), what="the CLI to start")  # its URL comes 0.8 s later
    assert record_of(ctx.store, sid).state is SessionState.STARTING
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    lifecycle.cancel(ctx.store, sid)
    thread.join(10)
    assert not thread.is_alive()


def test_slow_start_past_the_url_timeout_fails(make_ctx):
    ctx = make_ctx("--slow-start", "5", url_timeout=0.4)
    sid = new_session(ctx)
    assert run_login(ctx, sid) is SessionState.FAILED
    assert record_of(ctx.store, sid).error_code == "url_not_found"


def test_a_cli_that_never_answers_fails_in_bounded_time(make_ctx):
    ctx = make_ctx("--never-answer", exchange_timeout=0.4)
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    submit(ctx, sid, "never-answered#state")
    thread.join(15)
    record = record_of(ctx.store, sid)
    assert record.state is SessionState.FAILED
    assert record.error_code == "timeout"


def test_no_code_within_the_wait_times_out(make_ctx):
    ctx = make_ctx(code_wait_timeout=0.4)
    sid = new_session(ctx)
    assert run_login(ctx, sid) is SessionState.FAILED
    assert record_of(ctx.store, sid).error_code == "timeout"


def test_worker_shutdown_fails_the_session_and_ends_the_cli(make_ctx):
    ctx = make_ctx()
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    ctx.drain()
    thread.join(10)
    assert record_of(ctx.store, sid).error_code == "worker_shutdown"
    wait_for(lambda: not cli_processes(), what="the CLI to end")


@pytest.mark.parametrize("code", [
    "Zfirst-char-matters#state",
    # a real-length code#state: one write of code and Enter would be taken as a paste
    "A" * 60 + "#" + "s" * 30,
])
def test_setup_token_keystrokes_arrive_whole(make_ctx, code):
    ctx = make_ctx()
    sid = new_session(ctx, LoginMode.SETUP_TOKEN)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    submit(ctx, sid, code)
    thread.join(15)
    assert record_of(ctx.store, sid).state is SessionState.READY
    payload = claim(ctx, sid)
    assert payload is not None and tokens_for(code)["access"] in payload


def test_a_session_already_ended_is_not_started(make_ctx):
    ctx = make_ctx()
    sid = new_session(ctx)
    lifecycle.cancel(ctx.store, sid)
    assert run_login(ctx, sid) is SessionState.CANCELLED
    assert not cli_processes()


def test_cancel_while_verifying_keeps_no_payload(make_ctx, work_root: Path):
    ctx = make_ctx("--slow-answer", "1.5", "--stamp-codes")
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    submit(ctx, sid, "valid-but-slow-code#state")
    wait_for(lambda: not ctx.store.redis.exists(ctx.store.key(KeyKind.CODE, sid)),
             what="the worker to take the code")
    wait_for(lambda: list((work_root / "switches" / "homes").rglob("code-received")),
             what="the CLI to read the typed code")  # --stamp-codes
    lifecycle.cancel(ctx.store, sid)  # the user cancels before the CLI answers
    thread.join(1.2)  # the CLI would answer after 1.5 s; cancel must not wait for it
    assert not thread.is_alive()
    assert record_of(ctx.store, sid).state is SessionState.CANCELLED
    assert not ctx.store.read(session_id=sid).payload_present


def test_cancel_while_starting_ends_the_cli_at_once(make_ctx):
    ctx = make_ctx("--slow-start", "20")
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: cli_processes(), what="the CLI to start")
    lifecycle.cancel(ctx.store, sid)
    thread.join(2)
    assert not thread.is_alive()
    assert record_of(ctx.store, sid).state is SessionState.CANCELLED


def test_a_tui_box_drawn_otherwise_is_ready_once_the_screen_is_quiet(make_ctx):
    ctx = make_ctx("--ascii-box")
    sid = new_session(ctx, LoginMode.SETUP_TOKEN)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    code = "ascii-box-code-0123#state"
    submit(ctx, sid, code)
    thread.join(15)
    assert record_of(ctx.store, sid).state is SessionState.READY
    assert tokens_for(code)["access"] in (claim(ctx, sid) or "")


class FailingCodeDrop(SessionStore):
    """A real store whose Redis fails at the worst moment: when the login's code
    list is dropped on the way out."""

    def drop_codes(self, session_id: str) -> None:
        raise redis.ConnectionError("Redis went away")


def test_a_redis_error_on_the_way_out_still_ends_the_cli(make_ctx, store_client):
    """Defect 3: the code list was dropped before the CLI was stopped, so a Redis
    error there left the CLI (or container) running."""
    ctx = make_ctx()
    ctx = dataclasses.replace(ctx, store=FailingCodeDrop(store_client, "t"))
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    assert cli_processes()
    lifecycle.cancel(ctx.store, sid)
    thread.join(10)
    assert not thread.is_alive()
    assert not cli_processes()


def test_an_unclaimed_session_expires_and_its_cli_ends(make_ctx):
    ctx = make_ctx()
    sid = new_session(ctx, ttl=2)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    thread.join(10)
    record = record_of(ctx.store, sid)
    assert (record.state, record.error_code) == (SessionState.EXPIRED, "expired")
    assert not cli_processes()


def test_unclaimed_credentials_lapse(make_ctx):
    ctx = make_ctx(credentials_ttl=1)
    sid = new_session(ctx)
    thread = run_in_thread(ctx, sid)
    wait_for(lambda: record_of(ctx.store, sid).state is SessionState.AWAITING_CODE, what="the URL")
    submit(ctx, sid, "quick-code#state")
    thread.join(10)
    assert record_of(ctx.store, sid).state is SessionState.READY
    wait_for(lambda: not ctx.store.read(session_id=sid).payload_present,
             what="the payload to lapse")
    with pytest.raises(BrokerError) as refused:
        lifecycle.claim(ctx.store, sid)
    assert refused.value.code is ErrorCode.EXPIRED
    record = record_of(ctx.store, sid)
    assert (record.state, record.error_code) == (SessionState.EXPIRED, "credentials_expired")
