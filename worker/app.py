"""create_worker(settings): the Celery app, its task and its lifecycle hooks.

Mirrors ``api.create_app``: nothing is read from the environment here and no
state lives at module level; each app carries its own :class:`WorkerProcess`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from vaporforge import connections, defaults, logs
from vaporforge.events import sink_for
from vaporforge.settings import Settings
from worker import login, webhooks
from worker.process import WorkerProcess


def create_worker(settings: Settings) -> Celery:
    app = Celery("vaporforge")
    app.conf.update(
        connections.celery_broker(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_default_queue=defaults.LOGIN_QUEUE,
        task_acks_late=False,  # a redelivered login would start a second CLI with a new URL
        worker_prefetch_multiplier=1,
        # Reserve a login only with a free thread: none waits behind a busy
        # worker while another has room (Redis broker).
        worker_disable_prefetch=True,
        worker_pool="threads",  # waiting for a code is I/O: one thread per login
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=True,
        worker_send_task_events=False,
        task_serializer="json",
        accept_content=["json"],
        **webhooks.queues(),
    )
    process = WorkerProcess(settings, events=sink_for(settings.hosts, app.send_task))
    app.vf_process = process

    @app.task(name=defaults.RUN_LOGIN_TASK, ignore_result=True)
    def run_login(session_id: str) -> str | None:
        state = login.run_login(process.context(), session_id)
        return state.value if state else None

    # Webhook attempts run on threads of their own (VF_WEBHOOK_CONCURRENCY), not these.
    hooks = app.vf_webhooks = webhooks.register(app, settings, process.metrics)

    def mine(sender: Any) -> bool:
        return getattr(sender, "app", None) is app

    def on_init(sender: Any = None, **_: object) -> None:
        if mine(sender):
            # --concurrency on the command line wins over the setting.
            process.pool_size = getattr(sender, "concurrency", None)

    def on_ready(sender: Any = None, **_: object) -> None:
        if mine(sender):
            process.start()

    def on_shutting_down(**_: object) -> None:
        process.drain()
        hooks.close()

    def on_shutdown(**_: object) -> None:
        process.close()
        hooks.join(defaults.WEBHOOK_TIMEOUT + 5)

    def format_logs(logger: logging.Logger, **_: object) -> None:
        logs.configure(settings.log_format, logger)

    # weak=False: the handlers are closures that nothing else holds.
    signals.worker_init.connect(on_init, weak=False)
    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    signals.after_setup_logger.connect(format_logs, weak=False)
    signals.after_setup_task_logger.connect(format_logs, weak=False)
    return app
