"""A worker counts its webhook events by host and outcome and shows its delivery
pool's backlog: the real pool and the real delivery task, with stand-in attempts
(tests/test_webhook_pool.py drives them against real receivers)."""

from __future__ import annotations

import json
import threading
import time

from celery import Celery

from tests.support.processes import wait_for
from vaporforge import defaults
from vaporforge.settings import Settings
from worker import webhooks
from worker.app import create_worker
from worker.metrics import WorkerMetrics
from worker.webhooks import Delivery, WebhookPool


def event(host: str) -> str:
    return json.dumps({"id": "evt_1", "type": "session.ready", "data": {"host": host}})


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in metrics.registry.collect() for s in family.samples}


def counted(metrics: WorkerMetrics, host: str, outcome: str) -> float:
    return samples(metrics).get(
        ("vaporforge_webhook_deliveries_total", (("host", host), ("outcome", outcome))), 0)


def test_each_attempt_is_counted_by_host_and_outcome():
    metrics = WorkerMetrics()
    requeued: list[str] = []

    def requeue(body: str, queued_at: float, **_: object) -> None:
        requeued.append(body)

    pool = WebhookPool(2, 4, requeue, lambda url, secret, body: "ok" in url,
                       outcome=metrics.webhook_outcome)
    now = time.time()
    pool.submit(Delivery("https://ok.example", "s", event("acme"), now))
    pool.submit(Delivery("https://down.example", "s", event("acme"), now))
    pool.submit(Delivery("https://down.example", "s", event("beta"),
                         now - defaults.WEBHOOK_RETRY_FOR, attempt=20))
    wait_for(lambda: pool.held() == 0, what="the pool to make its three attempts")
    assert pool.join(5)
    assert counted(metrics, "acme", "delivered") == 1
    assert counted(metrics, "acme", "failed") == 1 and len(requeued) == 1
    assert counted(metrics, "beta", "given_up") == 1


def test_the_task_counts_drops_and_the_backlog_follows_the_pool():
    metrics = WorkerMetrics()
    app = Celery("webhook-metrics", set_as_current=False)
    pool = webhooks.register(app, Settings(), metrics)  # no host has a webhook
    task = app.tasks[defaults.DELIVER_EVENT_TASK]
    assert task.apply(args=[event("acme"), time.time()]).get() is False
    assert counted(metrics, "acme", "dropped") == 1

    release = threading.Event()
    pool.attempt = lambda url, secret, body: release.wait(10)
    for _ in range(3):
        assert pool.submit(Delivery("https://hook.example", "s", event("acme"), time.time()))
    assert samples(metrics)[("vaporforge_webhook_backlog", ())] == 3
    release.set()
    wait_for(lambda: samples(metrics)[("vaporforge_webhook_backlog", ())] == 0,
             what="the pool to finish its three attempts")
    assert counted(metrics, "acme", "delivered") == 3
    assert pool.join(5)


def test_the_worker_app_counts_on_its_own_metrics():
    app = create_worker(Settings())
    pool, metrics = app.vf_webhooks, app.vf_process.metrics
    release = threading.Event()
    pool.attempt = lambda url, secret, body: release.wait(10)
    assert pool.submit(Delivery("https://hook.example", "s", event("acme"), time.time()))
    assert samples(metrics)[("vaporforge_webhook_backlog", ())] == 1
    release.set()
    wait_for(lambda: counted(metrics, "acme", "delivered") == 1,
             what="the worker's pool to count its attempt")
    assert pool.join(5)
