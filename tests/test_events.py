"""Events and their signature: the sinks, the body's fields,
the signature a host checks, the retry schedule and the webhook settings."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.recording_sink import RecordingSink
from vaporforge import defaults
from vaporforge.events import (
    AuditSink,
    DeliveringSink,
    EventType,
    Subject,
)
from vaporforge.settings import ConfigError, Settings
from vaporforge.webhooks import backoff, signature, verify_signature

SUBJECT = Subject("acme", "user-1", "sid-1", "oauth")


def test_an_event_holds_only_its_fields():
    sink = RecordingSink()
    sink.emit(EventType.LOGIN_FAILED, SUBJECT, "abandoned")
    sink.emit(EventType.LOGIN_CLAIMED, SUBJECT)
    failed, claimed = sink.events
    assert set(failed) == {"id", "type", "created", "data"}
    assert failed["type"] == "login.failed" and failed["id"] != claimed["id"]
    assert failed["data"] == {"host": "acme", "end_user": "user-1", "session_id": "sid-1",
                              "mode": "oauth", "error_code": "abandoned"}
    assert "error_code" not in claimed["data"]


def test_the_audit_log_has_one_json_line_per_event(caplog):
    caplog.set_level(logging.INFO, logger="vaporforge.audit")
    AuditSink().emit(EventType.LOGIN_CREATED, SUBJECT)
    (record,) = [r for r in caplog.records if r.name == "vaporforge.audit"]
    event = json.loads(record.getMessage())
    assert event["type"] == "login.created" and event["data"]["end_user"] == "user-1"


def test_a_failed_hand_off_to_the_queue_is_logged_not_raised(caplog):
    def broken(_: str) -> None:
        raise ConnectionError("broker down")

    caplog.set_level(logging.INFO)
    DeliveringSink(broken).emit(EventType.LOGIN_READY, SUBJECT)
    assert any(r.name == "vaporforge.audit" for r in caplog.records)
    assert any("not queued" in r.getMessage() for r in caplog.records)


def test_a_delivering_sink_queues_the_body_it_logged(caplog):
    caplog.set_level(logging.INFO, logger="vaporforge.audit")
    queued: list[str] = []
    DeliveringSink(queued.append).emit(EventType.TOKEN_REFRESHED, SUBJECT)
    assert [r.getMessage() for r in caplog.records if r.name == "vaporforge.audit"] == queued


def test_the_signature_is_the_documented_hmac():
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    header = signature("s" * 16, 1700000000, body)
    expected = hmac.new(b"s" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify_signature("s" * 16, header, body, now=1700000100)
    assert not verify_signature("s" * 16, header, body + b" ", now=1700000100)
    assert not verify_signature("s" * 16, header, body, now=1700000000 + 301)  # replayed late


def test_retries_start_at_one_second_double_up_to_ten_minutes_and_cover_a_day():
    waits = [backoff(n) for n in range(1, 12)]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
    assert backoff(500) == 600
    attempts, waited = 0, 0
    while waited + backoff(attempts + 1) <= defaults.WEBHOOK_RETRY_FOR:
        attempts += 1
        waited += backoff(attempts)
    assert attempts > 140  # about one a ten minutes for the rest of the day


@pytest.mark.parametrize("env, message", [
    ({"VF_WEBHOOK_URL": "http://hooks.example/x", "VF_WEBHOOK_SECRET": "s" * 16}, "https"),
    ({"VF_WEBHOOK_URL": "https://hooks.example/x"}, "go together"),
    ({"VF_WEBHOOK_SECRET": "s" * 16}, "go together"),
    ({"VF_WEBHOOK_URL": "https://hooks.example/x", "VF_WEBHOOK_SECRET": "short"}, "16"),
])
def test_bad_webhook_settings_stop_the_start(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_http_webhooks_only_to_loopback():
    settings = Settings.from_env({"VF_WEBHOOK_URL": "http://127.0.0.1:9/x",
                                  "VF_WEBHOOK_SECRET": "s" * 16})
    assert settings.webhook_url == "http://127.0.0.1:9/x"
    assert "s" * 16 not in repr(settings)  # the secret stays out of any printed settings
