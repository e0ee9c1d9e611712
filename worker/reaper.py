"""Sweeps for what a crashed worker or a silent browser left behind."""

from __future__ import annotations

import logging

from vaporforge.session import lifecycle
from vaporforge.session.store import SessionStore
from vaporforge.session.warm import WarmStore
from worker.metrics import WorkerMetrics
from worker.runtimes.base import Runtime

log = logging.getLogger("vaporforge.reaper")


def sweep(store: SessionStore, runtime: Runtime, metrics: WorkerMetrics | None = None,
          keep: set[str] | None = None) -> int:
    """Settle every live session (expiry, lost workers), then end the runtime
    places that belong to no live session, no offered warm entry and nothing
    in ``keep`` (this worker's entries still starting); returns how many ended."""
    settled = lifecycle.sweep(store)
    alive = store.live_place_ids() | WarmStore(store).place_ids() | (keep or set())
    ended = runtime.reap(alive)
    if ended:
        log.info("reaper ended %d orphaned login place(s)", ended)
    if metrics is not None:
        metrics.reaper.labels("session_ended").inc(settled)
        metrics.reaper.labels("place_removed").inc(ended)
    return ended
