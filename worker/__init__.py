"""Celery worker: ``celery -A worker worker`` runs it.

``app`` is the project's only global; everything else is built by
:func:`worker.app.create_worker` from one Settings object.
"""

import os

from vaporforge.settings import Settings
from worker.app import create_worker

app = create_worker(Settings.for_process(os.environ))

__all__ = ["app", "create_worker"]
