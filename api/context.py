"""What the API's routes share: settings, the session store, the task sender."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings

EXTENSION = "vaporforge"


@dataclass(frozen=True)
class ApiContext:
    settings: Settings
    store: SessionStore
    tasks: Celery


def api_context() -> ApiContext:
    return current_app.extensions[EXTENSION]
