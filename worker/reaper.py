"""Sweeps for what a crashed worker or a silent browser left behind."""

from __future__ import annotations

import logging

from vaporforge import lifecycle
from vaporforge.store import SessionStore
from worker.metrics import WorkerMetrics
from worker.runtimes.base import Runtime

log = logging.getLogger("vaporforge.reaper")


def sweep(store: SessionStore, runtime: Runtime, metrics: WorkerMetrics | None = None) -> int:
    """Settle every live session (expiry, lost workers), then end the runtime
    places of sessions that are no longer live; returns how many places ended."""
    settled = 0
    for session_id in store.live_session_ids():
        snapshot = store.read(session_id)
        try:
            if snapshot is None:
                raise lifecycle.SessionNotFound()
            settled += lifecycle.settle(store, snapshot).state is not snapshot.record.state
        except lifecycle.SessionNotFound:
            store.forget_live(session_id)
    ended = runtime.reap(store.live_session_ids())
    if ended:
        log.info("reaper ended %d orphaned login place(s)", ended)
    if metrics is not None:
        metrics.reaper.labels("session_ended").inc(settled)
        metrics.reaper.labels("place_removed").inc(ended)
    return ended
