"""Figure 3: poll throughput and latency, next to its ceilings.

``GET /api/auth/sessions/<id>`` (a session in ``awaiting_code``, owned by a live
worker) against ``bench/bare_app.py`` (one HGETALL), each under the same
gunicorn settings, loaded by ``wrk`` from its own process; ``redis-benchmark -t
get`` on the same Redis; p99 at a fixed 500 requests/s (``bench/loadgen.py``);
and the Redis commands one poll sends (MONITOR).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import HttpClient, Lab, Options

API_APP = "api:create_app()"
BARE_APP = "bench.bare_app:create_app()"
BASELINE = ("sync", 2, 1)
"""The issue's setting (`gunicorn -w 2`); the ratio and the 500 req/s point use it."""
CONFIGS = [BASELINE, ("sync", 4, 1), ("gthread", 2, 4), ("gthread", 1, 8), ("gthread", 4, 2)]
QUICK_CONFIGS = [BASELINE, ("gthread", 1, 8)]
WRK = ["wrk", "-t2", "-c20", "--latency"]
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return round(float(number) * _UNITS[unit], 3)


def parse_wrk(out: str) -> dict[str, Any]:
    percentiles = {f"p{p}_ms": _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$",
                                                           out, re.MULTILINE)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.MULTILINE)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "requests": int(total.group(1)) if total else 0, **percentiles,
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": errors.group(1) if errors else ""}


def wrk(url: str, header: str, seconds: int) -> dict[str, Any]:
    argv = [*WRK, f"-d{seconds}s", "-H", header, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    return parse_wrk(out)


def redis_benchmark(port: int, requests: int) -> dict[str, Any]:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "get", "-n",
            str(requests), "-c", "20", "--csv"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    head, row = [line.replace('"', "").split(",") for line in out.strip().splitlines()[-2:]]
    values = dict(zip(head, row, strict=True))
    return {"command": " ".join(argv), "rps": float(values["rps"]),
            "p50_ms": float(values["p50_latency_ms"]), "p99_ms": float(values["p99_latency_ms"])}


def fixed_rate(url: str, header: str, seconds: int, rate: int = 500) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.loadgen", url, "--rate", str(rate), "--duration",
            str(seconds), "--header", header]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                         cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout)


def round_trips(lab: Lab, db: int, url: str, header: str) -> dict[str, Any]:
    """The store commands one poll sends, from MONITOR: commands of connections
    silent during a quiet spell before the request (the worker's own BLPOP and
    heartbeats are not the poll's)."""
    log = lab.folder / "monitor.log"
    with open(log, "w") as out:
        monitor = subprocess.Popen(["redis-cli", "-p", str(lab.port), "monitor"], stdout=out)
    try:
        time.sleep(2.5)  # > CODE_POLL_INTERVAL: every worker connection shows up
        windows = []
        for _ in range(3):
            started = time.time()
            requests.get(url, headers=dict([header.split(": ", 1)]), timeout=10)
            windows.append((started, time.time()))
            time.sleep(0.3)
    finally:
        monitor.terminate()
        monitor.wait(5)
    entries = []
    for line in log.read_text(errors="replace").splitlines():
        found = re.match(r"^([\d.]+) \[(\d+) ([^\]]+)\] (.*)$", line)
        if found:
            entries.append((float(found.group(1)), int(found.group(2)), found.group(3),
                            found.group(4)))
    quiet = {addr for ts, _, addr, _ in entries if ts < windows[0][0]}
    quiet |= {addr for _, _, addr, cmd in entries if cmd.startswith(('"BLPOP"', '"SET"'))}
    quiet.discard("lua")
    per_request = [[(addr, cmd) for ts, d, addr, cmd in entries
                    if start <= ts <= end and d == db and addr not in quiet]
                   for start, end in windows]
    # Commands a Lua script runs show as client "lua": inside one round trip.
    trips = [[cmd for addr, cmd in cmds if addr != "lua"] for cmds in per_request]
    counts = sorted(len(cmds) for cmds in trips)
    return {"per_poll": counts[len(counts) // 2], "all_counts": counts,
            "commands": [cmd.split(" ")[0].strip('"') for cmd in trips[-1]],
            "inside_scripts": [cmd.split(" ")[0].strip('"') for addr, cmd in per_request[-1]
                               if addr == "lua"]}


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    seconds = opts.pick(8, 3)
    configs = opts.pick(CONFIGS, QUICK_CONFIGS)
    db = 4
    rows: list[dict[str, Any]] = []
    with lab.stack("poll", db=db) as stack:
        client = HttpClient(stack)
        session = client.create()
        client.wait_state(session, "awaiting_code")
        sid, header = session["session_id"], f"Authorization: Bearer {session['session_token']}"
        env = dict(stack.env)
        for cls, workers, threads in configs:
            name = f"{cls} -w {workers}" + (f" --threads {threads}" if cls == "gthread" else "")
            api_proc, api = lab.gunicorn(API_APP, env, workers, threads, cls, "api-g.log")
            bare_proc, bare = lab.gunicorn(BARE_APP, env, workers, threads, cls, "bare-g.log")
            try:
                row: dict[str, Any] = {"gunicorn": name, "worker_class": cls,
                                       "workers": workers, "threads": threads}
                for label, url in (("api", f"{api}/api/auth/sessions/{sid}"),
                                   ("bare", f"{bare}/bare/{sid}")):
                    wrk(url, header, 1)  # warm-up: imports, connections, JIT-free caches
                    row[label] = wrk(url, header, seconds)
                row["ratio_rps"] = round(row["api"]["rps"] / row["bare"]["rps"], 3)
                if (cls, workers, threads) == BASELINE:
                    row["round_trips"] = round_trips(lab, db, f"{api}/api/auth/sessions/{sid}",
                                                     header)
                rows.append(row)
                print(f"  poll {name}: api {row['api']['rps']:.0f} req/s "
                      f"p99 {row['api'].get('p99_ms')} ms; bare {row['bare']['rps']:.0f} "
                      f"req/s p99 {row['bare'].get('p99_ms')} ms", flush=True)
            finally:
                lab.stop(api_proc)
                lab.stop(bare_proc)
        best = max(rows, key=lambda r: (r["api"]["rps"], -r["api"].get("p99_ms", 0)))
        fixed: dict[str, Any] = {}
        for row in {id(r): r for r in (rows[0], best)}.values():
            cls, workers, threads = row["worker_class"], row["workers"], row["threads"]
            api_proc, api = lab.gunicorn(API_APP, env, workers, threads, cls, "api-f.log")
            bare_proc, bare = lab.gunicorn(BARE_APP, env, workers, threads, cls, "bare-f.log")
            try:
                fixed[row["gunicorn"]] = {
                    "api": fixed_rate(f"{api}/api/auth/sessions/{sid}", header, seconds),
                    "bare": fixed_rate(f"{bare}/bare/{sid}", header, seconds)}
            finally:
                lab.stop(api_proc)
                lab.stop(bare_proc)
        ceiling = redis_benchmark(lab.port, opts.pick(200_000, 50_000))
    base = rows[0]
    return {
        "wrk_command": " ".join([*WRK, f"-d{seconds}s", "-H", "'Authorization: Bearer …'",
                                 "URL"]),
        "baseline": base["gunicorn"], "ratio_rps": base["ratio_rps"],
        "round_trips": base.get("round_trips"), "configs": rows, "best": best["gunicorn"],
        "fixed_500": fixed, "redis_benchmark": ceiling}
