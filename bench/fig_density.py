"""Figure 4: density, what one waiting session costs and how many one worker holds.

One Celery worker process (thread pool) on the local runtime with the simulator
is ramped to each level of waiting sessions. At each level: the worker
process's own memory (RSS and USS from /proc/<pid>/smaps_rollup; its CLI
children are separate processes and not counted), its CPU use while only
waiting, Redis ``used_memory`` and clients, and a probe: the create → URL time
of a few more sessions, one at a time, against the same probe at 0 sessions.
A level degrades when the probe's p50 doubles or any session fails. The CLI's
own memory is measured apart, a few real CLIs waiting at once (the simulator's
is reported too, for scale). Redis bytes per session come from ``used_memory``
(including the worker's blocked connection per session) and ``MEMORY USAGE``
of one session's keys (data only).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from bench.common import HttpClient, Lab, Options, create_many, states, summary, wait_for
from vaporforge.keys import KeyKind, key_for

DB = 10


def memory_kib(pid: int) -> dict[str, int]:
    """RSS, PSS and USS (private clean + dirty) of one process, in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def tree_memory_kib(pids: list[int]) -> dict[str, int]:
    total = {"rss": 0, "pss": 0, "uss": 0}
    for pid in pids:
        with contextlib.suppress(OSError):
            for name, value in memory_kib(pid).items():
                total[name] += value
    return total




def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_share(pid: int, seconds: float) -> float:
    """The process's CPU use over ``seconds``, as a fraction of one core."""
    before, clock = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return round((_cpu_seconds(pid) - before) / (time.monotonic() - clock), 3)


def _probe(client: HttpClient, count: int) -> list[float]:
    timings = []
    for _ in range(count):
        homes = len(list(client.stack.work_dir.iterdir()))
        started = time.perf_counter()
        session = client.create()
        client.wait_state(session, "awaiting_code", interval=0.005)
        timings.append(time.perf_counter() - started)
        client.call("DELETE", session)
        wait_for(lambda h=homes: len(list(client.stack.work_dir.iterdir())) <= h, timeout=20,
                 interval=0.01, what="the probe's HOME to go")
    return timings


def _fill(client: HttpClient, count: int) -> tuple[list[str], int]:
    """Create ``count`` sessions from 8 threads; (their ids, refused creations)."""
    made = create_many(client, count, threads=8)
    return [sid for sid in made if sid], made.count(None)


def cli_memory(lab: Lab, opts: Options, count: int = 3) -> dict[str, Any]:
    """Memory of ``count`` real CLIs waiting at their prompt at once (local)."""
    if not opts.real_cli:
        return {"skipped": "no real CLI"}
    with lab.stack("density-real", db=DB + 2,
                   login_command=f"unshare --net -- {opts.real_cli}") as stack:
        client = HttpClient(stack)
        sessions = [client.create() for _ in range(count)]
        for session in sessions:
            client.wait_state(session, "awaiting_code", interval=0.02)
        time.sleep(1.0)
        total = tree_memory_kib(descendants(stack.procs[1].pid))
        for session in sessions:
            client.call("DELETE", session)
    return {"clis": count, **{f"{k}_mib_per_cli": round(v / count / 1024, 1)
                              for k, v in total.items()}}


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    levels = opts.pick([50, 100, 200], [10, 25])
    probes = opts.pick(7, 3)
    store = lab.client(DB)
    rows: list[dict[str, Any]] = []
    with lab.stack("density", db=DB, concurrency=levels[-1] + probes + 8) as stack:
        pid = stack.procs[1].pid
        client = HttpClient(stack)
        _probe(client, 2)  # warm-up: the worker's lazy imports and first threads
        time.sleep(1.0)
        base_mem, base_redis = memory_kib(pid), store.info("memory")["used_memory"]
        base_probe = summary(_probe(client, probes))
        held: list[str] = []
        refused = 0
        for level in levels:
            started = time.monotonic()
            made, failed = _fill(client, level - len(held))
            held += made
            refused += failed
            with contextlib.suppress(AssertionError):
                wait_for(lambda h=held: all(s != "starting" for s in states(store, h)),
                         timeout=120, interval=0.05, what=f"{level} sessions to show a URL")
            ramp = time.monotonic() - started
            waiting = sum(s == "awaiting_code" for s in states(store, held))
            cpu = _cpu_share(pid, opts.pick(3.0, 1.5))
            mem, info = memory_kib(pid), store.info("memory")
            clients = store.info("clients")["connected_clients"]
            sims = tree_memory_kib(descendants(pid))
            probe = summary(_probe(client, probes))
            errors = refused + len(held) - waiting
            row = {"level": level, "waiting": waiting, "errors": errors,
                   "ramp_seconds": round(ramp, 2), "worker_rss_mib": round(mem["rss"] / 1024, 1),
                   "worker_uss_mib": round(mem["uss"] / 1024, 1),
                   "worker_uss_kib_per_session": round((mem["uss"] - base_mem["uss"]) / level),
                   "worker_rss_kib_per_session": round((mem["rss"] - base_mem["rss"]) / level),
                   "worker_cpu_cores": cpu,
                   "redis_bytes_per_session": round((info["used_memory"] - base_redis) / level),
                   "redis_clients": clients,
                   "simulator_rss_mib_per_session": round(sims["rss"] / level / 1024, 1),
                   "probe": probe,
                   "degraded": errors > 0 or probe["p50_ms"] > 2 * base_probe["p50_ms"]}
            rows.append(row)
            print(f"  density {level}: {waiting} waiting, {errors} errors, worker USS "
                  f"{row['worker_uss_kib_per_session']} KiB/session, probe p50 "
                  f"{probe['p50_ms']} ms (0 sessions: {base_probe['p50_ms']} ms), "
                  f"worker CPU {cpu:.2f} cores", flush=True)
        sid = held[0]
        keys = [key_for("vf", KeyKind.SESSION, sid), key_for("vf", KeyKind.HEARTBEAT, sid)]
        key_bytes = {key.split(":")[1]: store.memory_usage(key) for key in keys}
    held_ok = [r["level"] for r in rows if not r["degraded"]]
    return {"levels": levels, "base": {"worker_rss_mib": round(base_mem["rss"] / 1024, 1),
                                       "worker_uss_mib": round(base_mem["uss"] / 1024, 1),
                                       "probe": base_probe},
            "rows": rows, "held_without_degrading": max(held_ok) if held_ok else 0,
            "redis_key_bytes": key_bytes, "cli": cli_memory(lab, opts)}
