"""Thin Celery tasks over worker.login, plus worker lifecycle hooks."""

from __future__ import annotations

import logging
import os
import socket
import threading

import redis
from celery import signals

from vaporforge import defaults
from vaporforge.errors import BrokerError
from vaporforge.redact import install_redaction
from vaporforge.settings import Settings
from vaporforge.store import SessionStore
from worker import login, reaper
from worker.celery_app import app
from worker.heartbeat import Heartbeats
from worker.runtimes.base import Runtime

log = logging.getLogger("vaporforge.worker")
_lock = threading.Lock()
_context: login.LoginContext | None = None
_stopping = threading.Event()


def make_runtime(settings: Settings) -> Runtime:
    if settings.runtime == "docker":
        from worker.runtimes.docker_runtime import DockerRuntime
        return DockerRuntime(
            settings.login_image, network=settings.docker_network,
            memory=settings.docker_memory, cpus=settings.docker_cpus, pids=settings.docker_pids,
            docker_runtime=settings.docker_runtime, base_url=settings.docker_host,
            extra_hosts=dict(settings.docker_extra_hosts))
    from worker.runtimes.local import LocalRuntime
    return LocalRuntime(settings.work_dir)


def context() -> login.LoginContext:
    """The worker process's context, built once from the app's settings."""
    global _context
    with _lock:
        if _context is None:
            settings: Settings = app.vf_settings  # type: ignore[attr-defined]
            # Each waiting login holds one connection in BLPOP; leave room for the
            # heartbeat and reaper threads.
            pool = redis.BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=settings.worker_concurrency + 16,
                timeout=10, decode_responses=True, health_check_interval=30)
            client = redis.Redis(connection_pool=pool)
            store = SessionStore(client, settings.key_prefix)
            owner = f"{socket.gethostname()}:{os.getpid()}"
            _context = login.LoginContext(
                settings=settings, store=store, runtime=make_runtime(settings),
                heartbeats=Heartbeats(store, owner, settings.heartbeat_ttl,
                                      capacity=settings.worker_concurrency),
                shutting_down=_stopping)
        return _context


@app.task(name=defaults.RUN_LOGIN_TASK, ignore_result=True)
def run_login(session_id: str) -> str | None:
    state = login.run_login(context(), session_id)
    return state.value if state else None


def _reap_forever(ctx: login.LoginContext, version: str) -> None:
    while not _stopping.wait(defaults.REAP_INTERVAL):
        try:
            ctx.store.report_cli_version(ctx.runtime.name, version)
            reaper.sweep(ctx.store, ctx.runtime)
        except Exception:  # noqa: BLE001 - the next sweep tries again
            log.exception("reaper sweep failed")


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_logs(logger: logging.Logger, **_: object) -> None:
    install_redaction(logger)


@signals.worker_init.connect
def _on_init(sender: object = None, **_: object) -> None:
    # --concurrency on the command line wins over the setting: advertise the pool's
    # real size for admission control.
    size = getattr(sender, "concurrency", None)
    if isinstance(size, int) and size > 0:
        context().heartbeats.capacity = size


@signals.worker_ready.connect
def _on_ready(**_: object) -> None:
    ctx = context()
    try:
        version = ctx.runtime.version(ctx.settings.login_command)
    except BrokerError as exc:
        log.error("the login CLI cannot run on the %s runtime: %s", ctx.runtime.name,
                  exc.message)
        version = "unavailable"
    ctx.store.report_cli_version(ctx.runtime.name, version)
    log.info("login CLI on %s runtime: %s", ctx.runtime.name, version)
    reaper.sweep(ctx.store, ctx.runtime)
    ctx.heartbeats.start()
    threading.Thread(target=_reap_forever, args=(ctx, version), name="vf-reaper",
                     daemon=True).start()


@signals.worker_shutting_down.connect
def _on_shutdown(**_: object) -> None:
    _stopping.set()
    if _context is not None:
        _context.heartbeats.close()
