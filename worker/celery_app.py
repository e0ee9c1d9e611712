"""The Celery app: the project's only global. Configured from Settings."""

from __future__ import annotations

import os

from celery import Celery

from vaporforge import defaults
from vaporforge.settings import Settings


def create_celery(settings: Settings) -> Celery:
    app = Celery("vaporforge")
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_default_queue=defaults.LOGIN_QUEUE,
        task_acks_late=False,  # a redelivered login would start a second CLI with a new URL
        worker_prefetch_multiplier=1,
        worker_pool="threads",  # waiting for a code is I/O: one thread per login
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=True,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
    )
    app.vf_settings = settings  # type: ignore[attr-defined]
    return app


app = create_celery(Settings.from_env(os.environ))
