"""Events for the host: what happened to a host user's login or refresh.

Types: ``login.created``, ``login.ready``, ``login.claimed``, ``login.failed``,
``login.cancelled``, ``token.refreshed``, ``token.refresh_rejected``,
``token.revoked``, ``token.reuse_detected``. Each event
is ``{"id", "type", "created" (unix s), "data": {"host", "end_user",
"session_id", "mode", "error_code"?}}`` and nothing else: no token, code, URL
or credential can be put in one (:func:`build` takes only these fields).

Emitters get an :class:`EventSink` passed in explicitly (tests pass
``tests/support/recording_sink.RecordingSink``, which keeps what it is given):
- :class:`AuditSink` writes each event as one JSON line on ``vaporforge.audit``;
- :class:`DeliveringSink` does that and hands the event to a delivery queue
  (the webhook) when its host has one (:meth:`vaporforge.hosts.Hosts.webhook_for`;
  the worker routes it by :func:`host_of` the same way). A failed hand-off is
  logged, never raised: an event must not undo the step that caused it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from vaporforge import defaults

if TYPE_CHECKING:
    from vaporforge.hosts import Hosts

audit_log = logging.getLogger("vaporforge.audit")
log = logging.getLogger("vaporforge.events")


class EventType(StrEnum):
    LOGIN_CREATED = "login.created"
    LOGIN_READY = "login.ready"
    LOGIN_CLAIMED = "login.claimed"
    LOGIN_FAILED = "login.failed"
    LOGIN_CANCELLED = "login.cancelled"
    TOKEN_REFRESHED = "token.refreshed"
    TOKEN_REFRESH_REJECTED = "token.refresh_rejected"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_REUSE_DETECTED = "token.reuse_detected"


@dataclass(frozen=True)
class Subject:
    """Whose login an event is about: the host and its user, the session, the mode."""

    host: str
    end_user: str
    session_id: str
    mode: str


def build(kind: EventType, subject: Subject, error_code: str = "",
          now: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"host": subject.host, "end_user": subject.end_user,
                            "session_id": subject.session_id, "mode": subject.mode}
    if error_code:
        data["error_code"] = error_code
    return {"id": "evt_" + secrets.token_urlsafe(16), "type": kind.value,
            "created": int(time.time() if now is None else now), "data": data}


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def host_of(body: str) -> str:
    """The host an encoded event is about ('' when the body does not say)."""
    try:
        host = json.loads(body)["data"]["host"]
    except (ValueError, KeyError, TypeError):
        return ""
    return host if isinstance(host, str) else ""


class EventSink(Protocol):
    def emit(self, kind: EventType, subject: Subject, error_code: str = "") -> None: ...


class AuditSink:
    """One JSON line per event on the ``vaporforge.audit`` logger."""

    def emit(self, kind: EventType, subject: Subject, error_code: str = "") -> None:
        self.write(build(kind, subject, error_code))

    @staticmethod
    def write(event: dict[str, Any]) -> str:
        body = encode(event)
        audit_log.info(body)
        return body


class DeliveringSink(AuditSink):
    """The audit line, then ``enqueue(body)`` for webhook delivery when
    ``delivers(host)`` says the event's host has a webhook."""

    def __init__(self, enqueue: Callable[[str], None],
                 delivers: Callable[[str], bool] = lambda host: True) -> None:
        self.enqueue = enqueue
        self.delivers = delivers

    def emit(self, kind: EventType, subject: Subject, error_code: str = "") -> None:
        event = build(kind, subject, error_code)
        body = self.write(event)
        if not self.delivers(subject.host):
            return
        try:
            self.enqueue(body)
        except Exception as exc:  # noqa: BLE001 - the audit line stands; the step must too
            log.warning("event %s (%s): not queued for the webhook (%s)", event["id"],
                        event["type"], type(exc).__name__)


def sink_for(hosts: Hosts, send_task: Callable[..., object]) -> EventSink:
    """The audit log always; for the events of a host with a webhook, delivery by a
    worker too: ``send_task`` is a Celery app's, the task
    :data:`defaults.DELIVER_EVENT_TASK` on :data:`defaults.EVENTS_QUEUE` with the
    body and the time it was queued."""
    if not hosts.any_webhook():
        return AuditSink()

    def enqueue(body: str) -> None:
        send_task(defaults.DELIVER_EVENT_TASK, args=[body, time.time()],
                  queue=defaults.EVENTS_QUEUE)

    return DeliveringSink(enqueue, lambda host: hosts.webhook_for(host) is not None)
