"""The poll path under load, profiled with py-spy (``python -m bench --only profile``).

``GET /api/auth/sessions/<id>`` of a session in ``awaiting_code`` under
``gunicorn -w 2`` (sync) is loaded by ``wrk`` while ``py-spy record
--subprocesses`` samples both workers, twice: ``wall`` with ``--idle`` (a
sample blocked on Redis's answer counts: where a request's time goes) and
``cpu`` without it (where the Python work goes). Samples inside a request
(``handle_request`` on the stack) are attributed:

- by package: to the deepest frame's package;
- by function: inclusively, for the functions the lean poll path is about.

py-spy is found on PATH, in /tmp/venv-bench, or at $BENCH_PY_SPY.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import HttpClient, Lab, Options
from bench.fig_poll import API_APP, parse_wrk

FUNCTIONS: dict[str, tuple[str, ...]] = {
    "flask-limiter: its before-request check (no limit on polls)": (
        "Limiter._check_request_limit (",),
    "authorized_session (token hash, read, limit, settle)": ("authorized_session (api/",),
    "SessionStore.read (one script: record, heartbeat, payload, limit step)": (
        "SessionStore.read (",),
    "lifecycle.settle (no move on a healthy session)": ("settle (vaporforge/session/moves",),
    "serialisation (JSON)": ("marshmallow/", "flask/json/", "json/encoder"),
    "status_body": ("status_body (",),
    "redis-py, every command (send + wait + parse)": ("redis/",),
    "werkzeug request/response objects and routing": ("werkzeug/",),
    "gunicorn (parse request, write response)": ("gunicorn/http/", "gunicorn/util.py"),
    "logging": ("logging/",),
}


def _py_spy() -> str:
    for candidate in (os.environ.get("BENCH_PY_SPY"), shutil.which("py-spy"),
                      "/tmp/venv-bench/bin/py-spy"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("py-spy not found: pip install py-spy into a venv of your own "
                       "(e.g. /tmp/venv-bench) or set BENCH_PY_SPY")


def _package(frame: str) -> str:
    found = re.search(r"\(([^:]+):\d+\)$", frame)
    path = found.group(1) if found else frame
    return "stdlib" if "/" not in path else path.split("/")[0]


def analyse(raw: str) -> dict[str, Any]:
    samples: list[tuple[list[str], int]] = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    in_request = [(f, n) for f, n in samples if any("handle_request" in x for x in f)]
    total = sum(n for _, n in in_request)
    packages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, n in in_request:
        packages[_package(frames[-1])] += n
        leaves[frames[-1]] += n
    functions = {label: sum(n for f, n in in_request
                            if any(needle in x for x in f for needle in needles))
                 for label, needles in FUNCTIONS.items()}

    def share(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {"samples_in_requests": total,
            "samples_waiting_for_a_connection": sum(n for _, n in samples) - total,
            "by_package_pct": {k: share(v) for k, v in packages.most_common(12)},
            "by_function_pct": {k: share(v) for k, v in functions.items()},
            "top_leaves_pct": {k: share(v) for k, v in leaves.most_common(12)}}


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    seconds = opts.pick(10, 4)
    py_spy = _py_spy()
    raws = {"wall": lab.folder / "wall.raw", "cpu": lab.folder / "cpu.raw"}
    with lab.stack("profile", db=4) as stack:
        client = HttpClient(stack)
        session = client.create()
        client.wait_state(session, "awaiting_code")
        header = f"Authorization: Bearer {session['session_token']}"
        api_proc, api = lab.gunicorn(API_APP, dict(stack.env), 2, 1, "sync", "api-p.log")
        url = f"{api}/api/auth/sessions/{session['session_id']}"
        try:
            passes = {mode: _record(py_spy, api_proc.pid, url, header, seconds,
                                    mode == "wall", raw) for mode, raw in raws.items()}
        finally:
            lab.stop(api_proc)
    result: dict[str, Any] = {
        "gunicorn": "sync -w 2", "url": "GET /api/auth/sessions/<id> (awaiting_code)",
        "py_spy": f"py-spy record --subprocesses [--idle] --nonblocking -r 250 -d {seconds} "
                  "-f raw -p <gunicorn master>, under wrk -t2 -c20", **passes}
    keep = Path(__file__).resolve().parent / "results"
    keep.mkdir(exist_ok=True)
    for mode, raw in raws.items():
        shutil.copyfile(raw, keep / f"poll-profile-{mode}.raw")
    result["raw"] = "bench/results/poll-profile-{wall,cpu}.raw (collapsed stacks)"
    for label, pct in result["wall"]["by_function_pct"].items():
        print(f"  profile {label}: wall {pct}%, CPU {result['cpu']['by_function_pct'][label]}%",
              flush=True)
    return result


def _record(py_spy: str, pid: int, url: str, header: str, seconds: int, idle: bool,
            raw: Path) -> dict[str, Any]:
    """One py-spy pass over both gunicorn workers while wrk loads them."""
    load = subprocess.Popen(["wrk", "-t2", "-c20", "--latency", f"-d{seconds + 2}s", "-H",
                             header, url], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    subprocess.run([py_spy, "record", "--subprocesses", *(["--idle"] if idle else []),
                    "--nonblocking", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f",
                    "raw", "-o", str(raw)], capture_output=True, timeout=seconds + 60)
    out, _ = load.communicate(timeout=seconds + 60)
    return {"wrk": parse_wrk(out), **analyse(raw.read_text())}
