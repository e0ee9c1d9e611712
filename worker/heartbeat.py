"""One thread per worker process renews the heartbeat of every login it owns.

A login can sit inside one blocking CLI call (the URL, the code exchange) for
longer than the heartbeat TTL, so the beat cannot come from the login loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from vaporforge.registry import Registry
from vaporforge.session.store import SessionStore

log = logging.getLogger("vaporforge.heartbeat")


class Heartbeats:
    def __init__(self, store: SessionStore, owner: str, ttl: int, capacity: int = 0) -> None:
        self.store = store
        self.registry = Registry.beside(store)
        self.owner = owner
        self.ttl = ttl
        self.capacity = capacity
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._withdrawn = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, session_id: str) -> Iterator[None]:
        """Beat for ``session_id`` while the block runs; drop the beat after."""
        self.store.beat(session_id, self.owner, self.ttl)
        with self._lock:
            self._held.add(session_id)
        self.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(session_id)
            self.store.drop_heartbeat(session_id)

    def start(self) -> None:
        """Start beating (idempotent); with a capacity, also advertise it for admission."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vf-heartbeat",
                                                daemon=True)
                self._thread.start()

    def held_count(self) -> int:
        with self._lock:
            return len(self._held)

    def held_ids(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def withdraw(self) -> None:
        """Stop offering capacity for new sessions (a draining worker); the beats
        of the sessions held go on until :meth:`close`."""
        self._withdrawn.set()
        with contextlib.suppress(Exception):  # it lapses by itself
            self.registry.unregister_worker(self.owner)

    def _run(self) -> None:
        while True:
            if self.capacity and not self._withdrawn.is_set():
                try:
                    self.registry.register_worker(self.owner, self.capacity, self.ttl)
                except Exception:  # noqa: BLE001 - Redis blips; the next beat retries
                    log.warning("worker registration failed")
            if self._stop.wait(max(self.ttl / 3, 0.5)):
                break
            with self._lock:
                held = list(self._held)
            for session_id in held:
                try:
                    self.store.beat(session_id, self.owner, self.ttl)
                except Exception:  # noqa: BLE001 - Redis blips; the next beat retries
                    log.warning("heartbeat for %s failed", session_id)

    def close(self) -> None:
        self._stop.set()
        if self.capacity:
            # A failure is harmless: the registration lapses by itself.
            with contextlib.suppress(Exception):
                self.registry.unregister_worker(self.owner)
