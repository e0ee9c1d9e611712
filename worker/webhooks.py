"""The webhook delivery task: thin over :func:`vaporforge.webhooks.deliver`.

At least once: a non-2xx answer or a failed connection is retried with backoff
(1 s doubling up to 600 s) until ``WEBHOOK_RETRY_FOR`` (24 h) after the event was
queued; then the event is given up with one log line (its id and type only).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from celery import Celery, Task
from kombu import Queue

from vaporforge import defaults
from vaporforge.events import host_of
from vaporforge.settings import Settings
from vaporforge.webhooks import backoff, deliver

log = logging.getLogger("vaporforge.webhooks")


def _label(body: str) -> str:
    try:
        event = json.loads(body)
        return f"{event['id']} ({event['type']})"
    except (ValueError, KeyError, TypeError):
        return "(unreadable event)"


def register(app: Celery, settings: Settings) -> None:
    """Add the delivery task to ``app``: each event to its host's own webhook
    (dropped, with a log line, when its host has none)."""

    @app.task(name=defaults.DELIVER_EVENT_TASK, bind=True, ignore_result=True,
              max_retries=None, acks_late=False)
    def deliver_event(task: Task, body: str, queued_at: float) -> bool:
        webhook = settings.hosts.webhook_for(host_of(body))
        if webhook is None:
            log.warning("event %s: no webhook for its host on this worker; dropped",
                        _label(body))
            return False
        if deliver(webhook.url, webhook.secret, body):
            return True
        attempt = task.request.retries + 1
        wait = backoff(attempt)
        if time.time() + wait - queued_at > defaults.WEBHOOK_RETRY_FOR:
            log.error("event %s: given up after %s attempts over 24 h", _label(body), attempt)
            return False
        raise task.retry(countdown=wait)


def queues() -> dict[str, Any]:
    """Celery settings so that a worker consumes the login queue and the events queue."""
    return {"task_queues": (Queue(defaults.LOGIN_QUEUE), Queue(defaults.EVENTS_QUEUE))}
