"""Webhook delivery on threads of its own: a receiver, however slow, never holds a
login thread.

The Celery task ``vaporforge.deliver_event`` (queue ``vaporforge.events``, which
every worker process consumes beside the logins) only finds where the event goes
(its host's webhook) and hands it to this process's :class:`WebhookPool`:
``VF_WEBHOOK_CONCURRENCY`` threads that make the attempts, and room for
``WEBHOOK_BACKLOG`` more events waiting for one. A login thread holds an event for
that hand-off only.

- **An attempt** is :func:`vaporforge.webhooks.deliver`: ``WEBHOOK_TIMEOUT``
  seconds in all (the refresh relay's timer cuts a slow drip), an answer of at
  most ``WEBHOOK_MAX_ANSWER`` bytes.
- **At least once.** A failed attempt (non-2xx, no connection, the deadline,
  a too large answer) is queued again as a new task message with a countdown,
  backing off as ``vaporforge.webhooks.backoff`` says, until
  ``defaults.WEBHOOK_RETRY_FOR`` after the event was first queued; then it is
  given up with one log line (its id and type only).
- **A full pool** does not make the task wait: the event goes back to the queue,
  not counted as an attempt, for 1 s doubling up to ``WEBHOOK_DEFER_MAX``
  each time in a row it found the pool full.
- **A stopping worker** (SIGTERM, warm shutdown): the pool takes nothing more; the
  events waiting in it go back to the queue without an attempt; attempts under way
  end within ``WEBHOOK_TIMEOUT`` and queue their retry as usual, and the process
  waits for them. Retries waiting for their countdown are unacknowledged messages
  that Celery gives back to the queue. A killed process (SIGKILL, out of memory)
  loses the events its pool held (at most ``VF_WEBHOOK_CONCURRENCY`` +
  ``WEBHOOK_BACKLOG``); the audit log has every event.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from celery import Celery, Task
from kombu import Queue

from vaporforge import defaults
from vaporforge.events import host_of
from vaporforge.settings import Settings
from vaporforge.webhooks import backoff, deliver
from worker.metrics import WorkerMetrics

log = logging.getLogger("vaporforge.webhooks")


def _label(body: str) -> str:
    try:
        event = json.loads(body)
        return f"{event['id']} ({event['type']})"
    except (ValueError, KeyError, TypeError):
        return "(unreadable event)"


@dataclass(frozen=True)
class Delivery:
    """One attempt to make: where (``url``, ``secret``), what (``body``), and
    where the event stands (first queued at ``queued_at``; ``attempt`` is 1-based)."""

    url: str
    secret: str = field(repr=False)
    body: str = field(repr=False)
    queued_at: float = 0.0
    attempt: int = 1


Outcome = Callable[[str, str], None]
"""Told (host, outcome) of each event handled: ``delivered``, ``failed`` (a retry is
queued), ``given_up``, ``deferred`` (the pool was full), ``dropped`` (no webhook)."""


def _uncounted(host: str, outcome: str) -> None:
    pass


class Requeue(Protocol):
    def __call__(self, body: str, queued_at: float, *, retries: int, countdown: float,
                 deferred: int = 0) -> None: ...


class WebhookPool:
    """``size`` threads of their own making webhook attempts, and room for
    ``backlog`` events waiting for one. ``requeue`` puts an event back on the
    events queue (a retry, or one the pool could not take)."""

    def __init__(self, size: int, backlog: int, requeue: Requeue,
                 attempt: Callable[[str, str, str], bool] = deliver,
                 outcome: Outcome | None = None) -> None:
        self.size = max(1, size)
        self.backlog = max(0, backlog)
        self.requeue = requeue
        self.attempt = attempt
        self.outcome: Outcome = outcome or _uncounted
        self._queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._held = 0
        self._closed = False
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def held(self) -> int:
        """Events in the pool now: under way and waiting."""
        return self._held

    def submit(self, delivery: Delivery) -> bool:
        """Take ``delivery`` unless the pool is full or stopping (False: the caller
        keeps it). Never blocks; the threads start with the first event."""
        with self._lock:
            if self._closed or self._held >= self.size + self.backlog:
                return False
            self._held += 1
            if not self._threads:
                self._threads = [threading.Thread(target=self._run, name=f"vf-webhook-{i}",
                                                  daemon=True) for i in range(self.size)]
                for thread in self._threads:
                    thread.start()
                threading.Thread(target=self._port, name="vf-webhook-porter",
                                 daemon=True).start()
            self._queue.put(delivery)
        return True

    def close(self) -> None:
        """Take nothing more; what waits goes back to the queue, what is under way
        finishes. Takes no lock (SimpleQueue.put is reentrant): it runs in the
        worker's signal handler."""
        self._closed = True
        for _ in list(self._threads):
            self._queue.put(None)
        self._closing.set()  # the porter gives back what waits, outside the handler

    def join(self, timeout: float) -> bool:
        """Close, wait up to ``timeout`` seconds for the attempts under way, and put
        back on the queue any event still waiting; True when every thread ended."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        self._closing.set()
        due = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, due - time.monotonic()))
        ended = not any(thread.is_alive() for thread in threads)
        if ended:  # a submit that raced close() may have queued behind the stop marks
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    self._give_back(left)
                    with self._lock:
                        self._held -= 1
        return ended

    def _port(self) -> None:
        """Once the pool closes: every event still waiting goes back to the queue
        at once (the threads may be busy with attempts for WEBHOOK_TIMEOUT)."""
        self._closing.wait()
        stops = 0
        while True:
            try:
                left = self._queue.get_nowait()
            except queue.Empty:
                break
            if left is None:
                stops += 1
                continue
            try:
                self._give_back(left)
            finally:
                with self._lock:
                    self._held -= 1
        for _ in range(stops):
            self._queue.put(None)

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                if self._closed:
                    self._give_back(delivery)
                else:
                    self._attempt(delivery)
            except Exception:  # one event's failure must not end the thread
                log.exception("event %s: delivery failed", _label(delivery.body))
            finally:
                with self._lock:
                    self._held -= 1

    def _attempt(self, delivery: Delivery) -> None:
        host = host_of(delivery.body)
        if self.attempt(delivery.url, delivery.secret, delivery.body):
            self.outcome(host, "delivered")
            return
        wait = backoff(delivery.attempt)
        if time.time() + wait - delivery.queued_at > defaults.WEBHOOK_RETRY_FOR:
            log.error("event %s: given up after %s attempts over 24 h", _label(delivery.body),
                      delivery.attempt)
            self.outcome(host, "given_up")
            return
        self.outcome(host, "failed")
        self._requeue(delivery, retries=delivery.attempt, countdown=wait)

    def _give_back(self, delivery: Delivery) -> None:
        """An event the stopping pool will not attempt: back to the queue as it
        came. The countdown keeps this worker's last fetches from taking it again;
        a message it holds unacknowledged goes back to the queue when it stops."""
        self._requeue(delivery, retries=delivery.attempt - 1, countdown=1)

    def _requeue(self, delivery: Delivery, *, retries: int, countdown: float) -> None:
        try:
            self.requeue(delivery.body, delivery.queued_at, retries=retries,
                         countdown=countdown)
        except Exception as exc:  # noqa: BLE001 - logged; nothing else can hold it
            log.error("event %s: could not be queued again (%s); given up",
                      _label(delivery.body), type(exc).__name__)


def register(app: Celery, settings: Settings,
             metrics: WorkerMetrics | None = None) -> WebhookPool:
    """Add the delivery task to ``app``: each event to its host's own webhook
    (dropped, with a log line, when its host has none), attempted on the pool
    this returns (``VF_WEBHOOK_CONCURRENCY`` threads); the caller closes it.
    With ``metrics``, outcomes and the pool's backlog are counted there."""

    def requeue(body: str, queued_at: float, *, retries: int, countdown: float,
                deferred: int = 0) -> None:
        app.send_task(defaults.DELIVER_EVENT_TASK, args=[body, queued_at],
                      kwargs={"deferred": deferred} if deferred else None,
                      queue=defaults.EVENTS_QUEUE, countdown=countdown, retries=retries,
                      add_to_parent=False)

    count: Outcome = metrics.webhook_outcome if metrics else _uncounted
    pool = WebhookPool(settings.webhook_concurrency, defaults.WEBHOOK_BACKLOG, requeue,
                       outcome=count)
    if metrics:
        metrics.webhook_backlog.set_function(pool.held)

    # shared=False: the task belongs to ``app`` alone (Celery would otherwise add it
    # to every app made later in the process, delivering through this app's pool).
    @app.task(name=defaults.DELIVER_EVENT_TASK, bind=True, ignore_result=True,
              max_retries=None, acks_late=False, shared=False)
    def deliver_event(task: Task, body: str, queued_at: float, deferred: int = 0) -> bool:
        webhook = settings.hosts.webhook_for(host_of(body))
        if webhook is None:
            log.warning("event %s: no webhook for its host on this worker; dropped",
                        _label(body))
            count(host_of(body), "dropped")
            return False
        retries = int(task.request.retries or 0)
        if pool.submit(Delivery(webhook.url, webhook.secret, body, queued_at, retries + 1)):
            return True
        count(host_of(body), "deferred")
        wait = 1 if pool.closed else min(defaults.WEBHOOK_DEFER_MAX, 2 ** min(deferred, 10))
        if time.time() + wait - queued_at > defaults.WEBHOOK_RETRY_FOR:
            log.error("event %s: given up after %s attempts over 24 h", _label(body), retries)
            return False
        try:
            requeue(body, queued_at, retries=retries, countdown=wait,
                    deferred=0 if pool.closed else deferred + 1)
        except Exception as exc:  # noqa: BLE001 - the message is acknowledged already
            log.error("event %s: could not be queued again (%s); given up", _label(body),
                      type(exc).__name__)
        return False

    return pool


def queues() -> dict[str, Any]:
    """Celery settings so that a worker consumes the login queue and the events queue."""
    return {"task_queues": (Queue(defaults.LOGIN_QUEUE), Queue(defaults.EVENTS_QUEUE))}
