"""WarmPool: logins whose CLI already shows its URL and prompt, waiting for a
session, so a new session is ``awaiting_code`` at once.

Contract:
- each entry runs in its own place (private HOME or container), holds no user
  data until a session takes it, and is taken by at most one session, never
  reused: once its login ends, its place is removed and a new entry replaces it;
- entries older than ``VF_WARM_MAX_AGE``, entries whose CLI died and, on drain,
  every entry no session took are withdrawn (atomically against a taker) and
  removed;
- entries count against the worker's capacity: the pool refills only while
  held sessions plus entries stay below it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial

from vaporforge import defaults
from vaporforge.errors import BrokerError
from vaporforge.session import lifecycle
from vaporforge.session.states import LoginMode
from vaporforge.session.warm import WarmStore
from worker.driver import LoginDriver
from worker.login import LoginContext, serve_bound, spawn_spec
from worker.runtimes.base import LoginPlace

log = logging.getLogger("vaporforge.warm")


class WarmPool:
    def __init__(self, ctx: LoginContext, targets: Mapping[LoginMode, int], max_age: int,
                 capacity: Callable[[], int]) -> None:
        self.ctx = ctx
        self.targets = dict(targets)
        self.max_age = max_age
        self.capacity = capacity
        self.store = WarmStore(ctx.store)
        self._entries: dict[str, LoginMode] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._retry_at: dict[LoginMode, float] = {}

    def start(self) -> None:
        threading.Thread(target=self._refill_forever, name="vf-warm", daemon=True).start()

    def local_ids(self) -> set[str]:
        """Entries of this worker no session took yet (their places are alive)."""
        with self._lock:
            return set(self._entries)

    def count(self, mode: LoginMode) -> int:
        with self._lock:
            return sum(1 for m in self._entries.values() if m is mode)

    def join(self, timeout: float) -> None:
        """Wait for every entry thread (and the logins they serve) to end, those
        started while the drain began included."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return
            for thread in threads:
                thread.join(max(deadline - time.monotonic(), 0))

    def _refill_forever(self) -> None:
        while not self.ctx.shutting_down.wait(defaults.WARM_REFILL_EVERY):
            try:
                self._refill()
            except Exception:
                log.exception("warm pool refill failed")

    def _refill(self) -> None:
        for mode, target in self.targets.items():
            if time.monotonic() < self._retry_at.get(mode, 0):
                continue
            with self._lock:
                if self.ctx.shutting_down.is_set():
                    return  # a draining worker starts no entry
                have = sum(1 for m in self._entries.values() if m is mode)
                room = self.capacity() - self.ctx.heartbeats.held_count() - len(self._entries)
                missing = min(target - have, room)
                for _ in range(max(missing, 0)):
                    entry_id = secrets.token_urlsafe(12)
                    self._entries[entry_id] = mode
                    thread = threading.Thread(target=self._run_entry, args=(entry_id, mode),
                                              name=f"vf-warm-{mode.value}", daemon=True)
                    self._threads.add(thread)
                    thread.start()

    def _run_entry(self, entry_id: str, mode: LoginMode) -> None:
        ctx = self.ctx
        place: LoginPlace | None = None
        serving = False
        try:
            expires_at = (int(time.time()) + self.max_age + ctx.settings.session_ttl
                          + defaults.WARM_EXPIRY_MARGIN)
            place = ctx.runtime.start(entry_id, expires_at)
            ended: list[Callable[[], bool]] = [ctx.shutting_down.is_set]
            driver = LoginDriver(place.spawn(spawn_spec(ctx.settings, mode)), mode,
                                 extra_hosts=ctx.settings.extra_sign_in_hosts,
                                 cli_version=ctx.cli_version,
                                 ended=lambda: ended[0]())
            url = driver.read_url(ctx.settings.url_timeout)
            session_id = self._offer_and_wait(entry_id, mode, url, driver)
            if session_id is None:
                return
            with self._lock:
                self._entries.pop(entry_id, None)
            record = lifecycle.current(ctx.store, session_id)
            if record is None:
                return
            ended[0] = partial(lifecycle.ended, ctx.store, session_id)
            serving = True
            serve_bound(ctx, record, driver, place)  # stops the place when the login ends
        except BrokerError as exc:
            log.warning("warm %s entry failed to start: %s", mode.value, exc.code.value)
            self._retry_at[mode] = time.monotonic() + defaults.WARM_RETRY_AFTER
        except Exception:
            log.exception("warm %s entry crashed", mode.value)
            self._retry_at[mode] = time.monotonic() + defaults.WARM_RETRY_AFTER
        finally:
            with self._lock:
                self._entries.pop(entry_id, None)
            try:
                if place is not None and not serving:
                    with contextlib.suppress(Exception):
                        lifecycle.withdraw_entry(self.store, entry_id, mode)
                    try:
                        place.stop()
                    except BrokerError as exc:  # the reaper removes it later
                        log.error("warm entry: could not stop its place: %s", exc.message)
            finally:
                # Last: join() returns once no thread is listed, and the process
                # may exit then, so the place must be gone before.
                with self._lock:
                    self._threads.discard(threading.current_thread())

    def _offer_and_wait(self, entry_id: str, mode: LoginMode, url: str,
                        driver: LoginDriver) -> str | None:
        """Offer the entry; the id of the session that took it, or None once it
        was withdrawn (too old, its CLI died, the worker drains)."""
        ttl = self.ctx.settings.heartbeat_ttl
        self.store.offer(entry_id, mode, url, self.ctx.heartbeats.owner, ttl)
        offered = time.monotonic()
        while True:
            session_id = self.store.wait_bound(entry_id, defaults.WARM_WAIT_SLICE)
            if session_id:
                return session_id
            if lifecycle.withdraw_due(age=time.monotonic() - offered, max_age=self.max_age,
                                      shutting_down=self.ctx.shutting_down.is_set(),
                                      cli_alive=driver.alive()):
                if lifecycle.withdraw_entry(self.store, entry_id, mode):
                    return None
                # A session took it in the same instant: its id is on the way.
                return self.store.wait_bound(entry_id, defaults.WARM_TAKEN_WAIT)
            self.store.renew(entry_id, mode, ttl)
