"""Figure 5: a burst, N sessions created at once, with 1 and with 2 worker processes.

Sessions are created from 16 threads at once; states are read straight from
the store every 10 ms (so the watching adds no API load) until every session
shows ``awaiting_code`` (or has failed). Each worker process can hold all N.
Reported: how long the creations took, and the time from the first POST until
the median, the 95th percentile and the last session showed its URL (the
watching starts once every POST has been answered).
The ceiling: the same number of simulators spawned at once in PTYs with no
broker, timed until each shows its URL and prompt.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import sys
import tempfile
import time
from typing import Any

import pexpect

from bench.common import (
    SIMULATOR,
    HttpClient,
    Lab,
    Options,
    create_many,
    end_sessions,
    percentile,
    states,
    wait_for,
)
from vaporforge import cli_output
from vaporforge.keys import KeyKind, key_for
from vaporforge.session.states import LoginMode
from worker.login import BASE_ENV

DB = 14


def burst(client: HttpClient, store: Any, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    made = create_many(client, count, threads=16)
    created = time.perf_counter() - started
    sids = [sid for sid in made if sid]
    shown: dict[str, float] = {}
    deadline = started + 180
    while len(shown) < len(sids) and time.perf_counter() < deadline:
        now = time.perf_counter()
        for sid, state in zip(sids, states(store, sids), strict=True):
            if sid not in shown and state != "starting":
                shown[sid] = now - started if state == "awaiting_code" else float("nan")
        time.sleep(0.01)
    ok = sorted(v for v in shown.values() if v == v)
    with store.pipeline(transaction=False) as pipe:
        for sid in sids:
            pipe.hget(key_for("vf", KeyKind.SESSION, sid), "owner")
        owners = pipe.execute()
    per_worker = sorted((owners.count(o) for o in set(owners) if o), reverse=True)
    return {"per_worker": per_worker, "sessions": count, "created_seconds": round(created, 2),
            "awaiting_code": len(ok), "errors": count - len(ok),
            "p50_s": round(percentile(ok, 50), 2) if ok else None,
            "p95_s": round(percentile(ok, 95), 2) if ok else None,
            "all_s": round(ok[-1], 2) if len(ok) == count else None}


def bare_burst(count: int) -> dict[str, Any]:
    """``count`` simulators spawned at once in PTYs, no broker: the ceiling."""
    homes = [tempfile.mkdtemp(prefix="vf-bench-burst-") for _ in range(count)]
    started = time.perf_counter()
    children = [pexpect.spawn(sys.executable, [str(SIMULATOR), "auth", "login"], cwd=home,
                              env={"PATH": os.environ["PATH"], "HOME": home, **BASE_ENV},
                              dimensions=(50, 500)) for home in homes]
    spawned = time.perf_counter() - started
    output = {child.child_fd: "" for child in children}
    shown: list[float] = []
    try:
        while output and time.perf_counter() < started + 180:
            ready, _, _ = select.select(list(output), [], [], 0.05)
            for fd in ready:
                try:
                    output[fd] += os.read(fd, 65536).decode("utf-8", "replace")
                except OSError:
                    del output[fd]
                    continue
                text = output[fd]
                if cli_output.sign_in_url(text)[0] and \
                        cli_output.prompt_ready(text, LoginMode.OAUTH):
                    shown.append(time.perf_counter() - started)
                    del output[fd]
    finally:
        for child in children:
            with contextlib.suppress(Exception):
                child.close(force=True)
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
    shown.sort()
    return {"workers": 0, "per_worker": [], "sessions": count,
            "created_seconds": round(spawned, 2), "awaiting_code": len(shown),
            "errors": count - len(shown), "p50_s": round(percentile(shown, 50), 2),
            "p95_s": round(percentile(shown, 95), 2),
            "all_s": round(shown[-1], 2) if len(shown) == count else None}


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    count = opts.pick(100, 30)
    store = lab.client(DB)
    rows = [bare_burst(count)]
    print(f"  burst {count} bare simulators: all show a URL after {rows[0]['all_s']} s",
          flush=True)
    with lab.stack("burst", db=DB, concurrency=count + 4) as stack:
        client = HttpClient(stack)
        for workers in (1, 2):
            if workers == 2:
                lab.worker(stack, "burst-second", count + 4)
            row = {"workers": workers, **burst(client, store, count)}
            rows.append(row)
            print(f"  burst {count} with {workers} worker(s): all awaiting_code after "
                  f"{row['all_s']} s (p50 {row['p50_s']} s, errors {row['errors']})", flush=True)
            end_sessions(stack)
            wait_for(lambda: not any(stack.work_dir.iterdir()), timeout=60, interval=0.1,
                     what="every burst HOME to go")
    return {"sessions": count, "rows": rows}
