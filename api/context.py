"""What the API's routes share: settings, the session and ticket stores, the task
sender, the event sink."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import Celery
from flask import current_app, request

from vaporforge.access import may_read_operations
from vaporforge.events import AuditSink, EventSink
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings
from vaporforge.tickets import TicketStore

EXTENSION = "vaporforge"


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    store: SessionStore
    tasks: Celery
    tickets: TicketStore
    events: EventSink = field(default_factory=AuditSink)


def api_context() -> ApiContext:
    return current_app.extensions[EXTENSION]


def operator_request() -> bool:
    """The caller may see operations data (vaporforge.access): the metrics token,
    or a direct call from a loopback or private address when no token is set."""
    orig = request.environ.get("werkzeug.proxy_fix.orig") or {}
    peer = orig.get("REMOTE_ADDR", request.remote_addr)
    return may_read_operations(api_context().settings.metrics_token, dict(request.headers.items()),
                               peer)
