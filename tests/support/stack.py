"""The broker's stack as in production, for tests and benchmarks: gunicorn
(``api:create_app()``) and Celery workers (``celery -A worker worker``) on one
real Redis, in throwaway folders, every process on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.client import ApiCalls
from tests.support.processes import (
    BIN,
    ROOT,
    SIMULATOR,
    Databases,
    broker_url_for,
    free_port,
    wait_for,
)

UNLIMITED = "100000/minute"
"""The stacks' rate limits: the limiter still does all its work, it never refuses."""


@dataclass
class Stack(ApiCalls):
    """One API process and its worker processes sharing a Redis, as in production.
    Its REST calls (:class:`ApiCalls`) open a fresh connection each."""

    base_url: str
    redis_url: str
    work_dir: Path
    log_dir: Path
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url(path), timeout=30, **kwargs)

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@contextmanager
def store_database(databases: Databases) -> Iterator[str]:
    """One store database (its broker database is the next one), released
    afterwards: for a test that starts several stacks on the same data."""
    url = databases.allocate()
    try:
        yield url
    finally:
        databases.release(url)


@contextmanager
def running_stack(store: Databases | str, root: Path, name: str,
                  **settings: Any) -> Iterator[Stack]:
    """The one way a test starts a stack: :func:`start_stack` with ``settings``,
    stopped (:func:`stop_stack`) when the block ends, however it ends. ``store``
    is either :class:`Databases`, and the stack gets a fresh database released
    after the stop, or a store URL the caller holds (and releases).
    :mod:`tests.support.tiers` marks every test of a module that imports this
    ``stack``."""
    if isinstance(store, Databases):
        with store_database(store) as url, running_stack(url, root, name, **settings) as stack:
            yield stack
        return
    stack = start_stack(store, root, name, **settings)
    try:
        yield stack
    finally:
        stop_stack(stack)


def start_stack(store_url: str, root: Path, name: str,
                extra_env: dict[str, str] | None = None,
                login_command: str | None = None, concurrency: int = 16,
                worker: bool = True, timeout: float = 15.0) -> Stack:
    """Start gunicorn (``--workers 2 --threads 4``) and, with ``worker``, one
    Celery worker on ``store_url`` (a database from :class:`Databases`); the
    broker uses the next database. ``timeout``: how long the API may take to
    answer (the worker gets twice that). If the start fails, whatever was
    started is stopped before the error goes up."""
    work_dir = root / name / "homes"
    log_dir = root / name / "logs"
    work_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "REDIS_URL": store_url, "VF_BROKER_URL": broker_url_for(store_url),
           "VF_LOGIN_COMMAND": login_command or f"{sys.executable} {SIMULATOR}",
           "VF_WORK_DIR": str(work_dir), "VF_RUNTIME": "local", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT), "VF_CREATE_RATE": UNLIMITED,
           "VF_POLL_RATE": UNLIMITED, "VF_ACTION_RATE": UNLIMITED,
           "VF_PROBE_RATE": UNLIMITED,
           # Most tests claim plaintext; the sealed path has its own tests.
           "VF_REQUIRE_CLIENT_KEY": "false",
           **(extra_env or {})}
    stack = Stack(f"http://127.0.0.1:{port}", store_url, work_dir, log_dir, env)
    try:
        api_log = open(log_dir / "api.log", "w")  # noqa: SIM115 - closed with the process
        stack.procs.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "4", "api:create_app()"],
            cwd=ROOT, env=env, stdout=api_log, stderr=subprocess.STDOUT))
        if worker:
            add_worker(stack, name, concurrency, timeout=2 * timeout)
        wait_for(lambda: http_ok(stack.url("/healthz")), timeout=timeout, what="the API")
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def add_worker(stack: Stack, name: str, concurrency: int = 16,
               extra_env: dict[str, str] | None = None,
               timeout: float = 30.0) -> subprocess.Popen:
    """Start one more Celery worker process on the stack (log: ``worker.log`` for
    the first, then ``<name>.worker.log``)."""
    log_path = stack.log_dir / ("worker.log" if not stack.workers else f"{name}.worker.log")
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(BIN / "celery"), "-A", "worker", "worker", "--loglevel", "INFO",
         "--without-mingle", "--without-gossip", "--concurrency", str(concurrency),
         "--hostname", f"{name}-{len(stack.workers)}@%h"],
        cwd=ROOT, env={**stack.env, **(extra_env or {})}, stdout=log,
        stderr=subprocess.STDOUT)
    stack.procs.append(proc)
    stack.workers.append(proc)
    wait_for(lambda: "ready." in log_path.read_text(errors="replace"), timeout=timeout,
             what="the Celery worker")
    return proc


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or still loading the app
        return False


def stop_stack(stack: Stack) -> None:
    """SIGTERM every process of the stack, then SIGKILL what is still there after 20 s."""
    for proc in stack.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in stack.procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
