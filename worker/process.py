"""WorkerProcess: what one worker process holds besides Celery.

The login context (store, runtime, heartbeats) is built once, from the pool the
process really runs. Start-up cannot silently disable the reaper: the heartbeat
and reaper threads start first, and the steps that can fail (the CLI version
probe, a sweep) are retried on every reaper round.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from functools import partial

from vaporforge import connections
from vaporforge.errors import BrokerError
from vaporforge.events import EventSink
from vaporforge.registry import Registry
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings
from worker import reaper
from worker.heartbeat import Heartbeats
from worker.login import LoginContext
from worker.metrics import WorkerMetrics
from worker.runtimes.base import Runtime
from worker.warm import WarmPool

log = logging.getLogger("vaporforge.worker")


def make_runtime(settings: Settings) -> Runtime:
    if settings.runtime == "docker":
        from vaporforge.login_container import LoginContainerSpec
        from worker.runtimes.docker_runtime import DockerRuntime
        return DockerRuntime.from_spec(LoginContainerSpec.from_settings(settings),
                                       base_url=settings.docker_host)
    from worker.runtimes.local import LocalRuntime
    return LocalRuntime(settings.work_dir)


class WorkerProcess:
    def __init__(self, settings: Settings,
                 runtime_factory: Callable[[Settings], Runtime] = make_runtime,
                 events: EventSink | None = None) -> None:
        self.settings = settings
        self.events = events
        """Where the lifecycle's steps are announced (default: the audit log only)."""
        self.runtime_factory = runtime_factory
        self.pool_size: int | None = None
        """The thread pool Celery really runs (``--concurrency`` wins over the setting)."""
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._context: LoginContext | None = None
        self._version = ""
        self.metrics = WorkerMetrics()
        self.warm: WarmPool | None = None

    @property
    def capacity(self) -> int:
        return self.pool_size if self.pool_size and self.pool_size > 0 else \
            self.settings.worker_concurrency

    def context(self) -> LoginContext:
        with self._lock:
            if self._context is None:
                self._context = self._build()
            return self._context

    def _build(self) -> LoginContext:
        settings = self.settings
        # Each waiting login holds one connection in BLPOP; leave room for the
        # heartbeat and reaper threads.
        client = connections.store_client(settings, max_connections=self.capacity + 16)
        store = SessionStore(client, settings.key_prefix, events=self.events)
        owner = f"{socket.gethostname()}:{os.getpid()}"
        return LoginContext(
            settings=settings, store=store, runtime=self.runtime_factory(settings),
            heartbeats=Heartbeats(store, owner, settings.heartbeat_ttl,
                                  capacity=self.capacity),
            shutting_down=self.stopping, metrics=self.metrics)

    def start(self) -> None:
        """Beat and reap from now on; the first round runs at once."""
        ctx = self.context()
        ctx.heartbeats.start()
        self.metrics.slots.labels("total").set(self.capacity)
        self.metrics.slots.labels("in_use").set_function(ctx.heartbeats.held_count)
        self.metrics.slots.labels("free").set_function(
            lambda: max(self.capacity - ctx.heartbeats.held_count(), 0))
        if self.settings.warm_pool:
            warm = self.warm = WarmPool(ctx, self.settings.warm_pool,
                                        self.settings.warm_max_age, lambda: self.capacity)
            for mode in self.settings.warm_pool:
                self.metrics.warm.labels(mode.value).set_function(partial(warm.count, mode))
            warm.start()
        if self.settings.metrics_port:
            self.metrics.serve(self.settings.metrics_port, self.settings.metrics_token)
        threading.Thread(target=self._reap_forever, args=(ctx,), name="vf-reaper",
                         daemon=True).start()

    def _reap_forever(self, ctx: LoginContext) -> None:
        while True:
            try:
                self._round(ctx)
            except Exception:
                log.exception("reaper round failed")
            if self.stopping.wait(self.settings.reap_interval):
                return

    def _round(self, ctx: LoginContext) -> None:
        version = self._version
        if not version:  # probed until it answers
            try:
                version = ctx.runtime.version(self.settings.login_command)
            except BrokerError as exc:
                log.error("the login CLI cannot run on the %s runtime: %s",
                          ctx.runtime.name, exc.message)
                version = "unavailable"
            log.info("login CLI on %s runtime: %s", ctx.runtime.name, version)
            if version != "unavailable":
                self._version = ctx.cli_version = version
        Registry.beside(ctx.store).report_cli_version(ctx.runtime.name, version)
        self.metrics.cli.info({"runtime": ctx.runtime.name, "version": version})
        reaper.sweep(ctx.store, ctx.runtime, self.metrics,
                     keep=self.warm.local_ids() if self.warm else set())

    def drain(self) -> None:
        """Warm shutdown begins: take no new sessions; logins waiting for a code end
        as ``worker_shutdown``, a code exchange under way finishes, and the
        heartbeats go on until :meth:`close`."""
        self.stopping.set()
        if self._context is not None:
            self._context.drain()
            self._context.heartbeats.withdraw()

    def close(self) -> None:
        """The pool has stopped: let the warm entries' logins end, then stop beating."""
        self.stopping.set()
        if self.warm is not None:
            self.warm.join(self.settings.exchange_timeout + 5)
        if self._context is not None:
            self._context.heartbeats.close()
