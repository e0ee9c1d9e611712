"""What the API's routes share: settings, the session and ticket stores, the task
sender, the event sink."""

from __future__ import annotations

from dataclasses import dataclass, field

from celery import Celery
from flask import current_app

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
