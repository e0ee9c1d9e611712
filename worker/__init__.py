"""Celery worker: ``celery -A worker worker`` runs it."""

from worker import tasks  # noqa: F401  (registers the tasks on the app)
from worker.celery_app import app

__all__ = ["app"]
