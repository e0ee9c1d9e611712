"""BENCHMARKS.md from one results object (``bench/results/latest.json``)."""

from __future__ import annotations

from typing import Any

from bench import fig_gvisor
from bench.common import ROOT

HEADER = """# Benchmarks

Written by `python -m bench` (`make bench`) from `bench/results/latest.json`; every
figure sits next to its ceiling, measured in the same run. Nothing here is asserted
by a test. Loopback only: the real CLI runs in an empty network namespace
(`unshare --net`) or a container with network `none`.
"""


def _v(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) >= 100 else f"{value:g}"
    return f"{value}{unit}"


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_v(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _goal(label: str, target: str, value: Any, met: bool | None) -> list[Any]:
    verdict = "not measured" if met is None else ("met" if met else "missed")
    return [label, target, value if value is not None else "–", verdict]


def goals(figs: dict[str, Any]) -> list[str]:
    rows = []
    url = figs.get("url", {}).get("rows", [])
    for row in (r for r in url if r["cli"] == "real" and r.get("warm", {}).get("n")):
        limit = 50 if row["runtime"] == "local" else 60
        rows.append(_goal(f"Time to URL with the warm pool, {row['setup']} {row['mode']}, p50",
                          f"≤ {limit} ms ({row['warm_speedup_p50']}× faster than bare)",
                          f"{row['warm']['p50_ms']} ms", row["warm"]["p50_ms"] <= limit))
    for row in (r for r in url if r["cli"] == "real"):
        rows.append(_goal(f"Time to URL without the pool, {row['setup']} {row['mode']}",
                          "≤ 1.1× bare CLI (p50)", f"{row['ratio_p50']}×",
                          row["ratio_p50"] <= 1.1 if row["ratio_p50"] else None))
    poll = figs.get("poll", {})
    if poll.get("configs"):
        rows.append(_goal(f"Poll throughput vs bare endpoint ({poll['baseline']})", "≥ 70 %",
                          f"{poll['ratio_rps'] * 100:.0f} %", poll["ratio_rps"] >= 0.7))
        fixed = poll.get("fixed_500", {}).get(poll["baseline"], {}).get("api")
        if fixed:
            rows.append(_goal("Poll p99 at 500 req/s", "< 10 ms", f"{fixed['p99_ms']} ms",
                              fixed["p99_ms"] < 10))
    hand = figs.get("handoff", {}).get("handoff")
    if hand:
        rows.append(_goal("Handoff p50", "< 20 ms", f"{hand['p50_ms']} ms",
                          hand["p50_ms"] < 20))
    dens = figs.get("density", {})
    if dens.get("rows"):
        top = dens["rows"][-1]
        rows.append(_goal("Worker overhead per waiting session (USS)", "< 1 MB",
                          f"{top['worker_uss_kib_per_session']} KiB at {top['level']}",
                          top["worker_uss_kib_per_session"] < 1000))
        held, most = dens["held_without_degrading"], max(dens["levels"])
        rows.append(_goal("Waiting sessions in one worker process (simulator)", "200",
                          f"{held} (ramp up to {most})",
                          held >= 200 if most >= 200 or held < most else None))
    gvisor = fig_gvisor.goal(figs.get("gvisor", {}))
    rows += [gvisor] if gvisor else []
    return ["## Goals", "", *_table(["goal", "target", "measured", ""], rows)]


def fig_url(fig: dict[str, Any]) -> list[str]:
    rows = [[r["setup"], r["mode"], r["bare"].get("p50_ms"), r["bare"].get("p95_ms"),
             r["broker"].get("p50_ms"), r["broker"].get("p95_ms"), f"{r['ratio_p50']}×",
             f"{r['ratio_p95']}×", r["added_p50_ms"],
             r.get("runtime_only", {}).get("p50_ms"),
             " / ".join(_v(r.get("phases_p50_ms", {}).get(k)) for k in ("queue", "cli", "seen")),
             r.get("warm", {}).get("p50_ms"), r.get("warm", {}).get("p95_ms"),
             f"{r['warm_speedup_p50']}×" if r.get("warm_speedup_p50") else "",
             len(r.get("failures", []))] for r in fig.get("rows", [])]
    failed = [f"- {r['setup']} {r['mode']}: {f}" for r in fig.get("rows", [])
              for f in r.get("failures", [])]
    return ["## 1. Time to URL (create → `awaiting_code`)", "",
            f"{fig.get('runs')} runs each, bare and broker alternating; the broker is polled "
            f"every {fig.get('poll_interval_ms')} ms. Ceiling: the bare CLI behind the same "
            "wrapper (Docker: `docker run -it --network none` with the runtime's hardening "
            "flags). `runtime p50`: the worker's Docker runtime alone (create, start, exec, "
            "URL; no API, Celery or Redis). `phases p50`: each broker run split by the worker's "
            "log stamps: POST → task received / → URL stored / → seen by the poll. "
            "`warm`: the same setup with `VF_WARM_POOL` of one entry per mode, a warm entry "
            "waiting (refill not timed): POST → the broker shows the URL; `speed-up`: bare "
            "p50 / warm p50. Milliseconds.", "",
            *_table(["setup", "mode", "bare p50", "bare p95", "broker p50", "broker p95",
                     "ratio p50", "ratio p95", "added p50", "runtime p50", "phases p50",
                     "warm p50", "warm p95", "speed-up", "failed runs"], rows),
            *failed, *([""] if failed else [])]


def fig_handoff(fig: dict[str, Any]) -> list[str]:
    if "handoff" not in fig:
        return []
    h, p = fig["handoff"], fig["post_round_trip"]
    return ["## 2. Code handoff (`POST …/code` → the CLI has it)", "",
            f"{fig['codes']} codes into one simulator session (`--stamp-codes`). Ceiling: the "
            "POST's own round trip. Milliseconds.", "",
            *_table(["", "p50", "p95", "p99", "max"],
                    [["handoff", h["p50_ms"], h["p95_ms"], h["p99_ms"], h["max_ms"]],
                     ["POST round trip", p["p50_ms"], p["p95_ms"], p["p99_ms"], p["max_ms"]]])]


def fig_poll(fig: dict[str, Any]) -> list[str]:
    if "configs" not in fig:
        return []
    rows = [[c["gunicorn"], c["api"]["rps"], c["api"].get("p50_ms"), c["api"].get("p99_ms"),
             c["bare"]["rps"], c["bare"].get("p50_ms"), c["bare"].get("p99_ms"),
             f"{c['ratio_rps'] * 100:.0f} %"] for c in fig["configs"]]
    fixed = [[name, side, f["achieved_rate"], f["p50_ms"], f["p99_ms"], f["max_ms"],
              f["non_200"]] for name, pair in fig["fixed_500"].items()
             for side, f in pair.items()]
    rb, trips = fig["redis_benchmark"], fig.get("round_trips") or {}
    return ["## 3. Poll throughput and latency (`GET /api/auth/sessions/<id>`)", "",
            f"`{fig['wrk_command']}` from its own process; the session is `awaiting_code` with "
            "a live worker. Ceilings: `bench/bare_app.py` (one HGETALL, no auth, no limiter) "
            "under the same gunicorn settings, and redis-benchmark on the same Redis. "
            "Latencies in ms.", "",
            *_table(["gunicorn", "API req/s", "API p50", "API p99", "bare req/s", "bare p50",
                     "bare p99", "API/bare"], rows),
            f"Best API setting in this run: **{fig['best']}**.", "",
            f"Redis ceiling: `{rb['command']}`: {rb['rps']:,.0f} req/s, p50 {rb['p50_ms']} ms, "
            f"p99 {rb['p99_ms']} ms.", "",
            "Fixed 500 req/s (open loop, `python -m bench.loadgen`; latency from each "
            "request's due time):", "",
            *_table(["gunicorn", "endpoint", "achieved req/s", "p50", "p99", "max", "non-200"],
                    fixed),
            f"Redis round trips per poll (MONITOR, {fig['baseline']}): "
            f"**{trips.get('per_poll')}**: {', '.join(trips.get('commands', []))}"
            + (f" (inside the script: {', '.join(trips['inside_scripts'])})"
               if trips.get("inside_scripts") else "") + ".", ""]


def fig_density(fig: dict[str, Any]) -> list[str]:
    if "rows" not in fig:
        return []
    base = fig["base"]
    rows = [[r["level"], r["waiting"], r["errors"], r["ramp_seconds"], r["worker_uss_mib"],
             r["worker_uss_kib_per_session"], r["worker_rss_kib_per_session"],
             r["worker_cpu_cores"], r["redis_bytes_per_session"], r["redis_clients"],
             r["probe"]["p50_ms"], r["probe"]["max_ms"], "yes" if r["degraded"] else "no"]
            for r in fig["rows"]]
    cli = fig.get("cli", {})
    cli_line = (f"Real CLI while waiting ({cli['clis']} at once, local): RSS "
                f"{cli['rss_mib_per_cli']} MiB, PSS {cli['pss_mib_per_cli']} MiB, USS "
                f"{cli['uss_mib_per_cli']} MiB per CLI." if "clis" in cli
                else f"Real CLI memory: {cli.get('skipped', 'not measured')}.")
    sim = fig["rows"][-1]["simulator_rss_mib_per_session"]
    keys = ", ".join(f"{k} {v} B" for k, v in fig.get("redis_key_bytes", {}).items())
    return ["## 4. Density (one worker process, simulator)", "",
            f"At 0 sessions the worker process holds RSS {base['worker_rss_mib']} MiB, USS "
            f"{base['worker_uss_mib']} MiB; the probe (create → URL, one at a time) p50 is "
            f"{base['probe']['p50_ms']} ms. Per session: (value at the level − value at 0) "
            "/ level.", "",
            *_table(["waiting", "awaiting_code", "errors", "ramp s", "worker USS MiB",
                     "USS KiB/session", "RSS KiB/session", "worker CPU (cores)",
                     "Redis B/session", "Redis clients", "probe p50 ms", "probe max ms",
                     "degraded"], rows),
            f"Held without degrading: **{fig['held_without_degrading']}** (a level degrades "
            "when the probe's p50 doubles or a session fails).", "",
            cli_line + f" The simulator: RSS {sim} MiB each.", "",
            f"Redis, data only (MEMORY USAGE): {keys}; `Redis B/session` is the "
            "`used_memory` delta, which also holds the worker's blocked BLPOP connection "
            "per session.", ""]


def fig_burst(fig: dict[str, Any]) -> list[str]:
    if "rows" not in fig:
        return []
    rows = [[r["workers"] or "none (bare simulators)", r["sessions"],
             "/".join(map(str, r["per_worker"])) or "–",
             r["created_seconds"], r["p50_s"], r["p95_s"], r["all_s"], r["errors"]]
            for r in fig["rows"]]
    return [f"## 5. Burst ({fig['sessions']} sessions created at once)", "",
            "Seconds from the first POST. Ceiling (first row): as many simulators spawned at "
            "once in PTYs, no broker (its 'all POSTs answered' column: all spawned).", "",
            *_table(["workers", "sessions", "taken per worker", "all POSTs answered",
                     "p50 URL", "p95 URL", "all URLs", "errors"], rows)]


def profile(fig: dict[str, Any]) -> list[str]:
    if "wall" not in fig:
        return []
    wall, cpu = fig["wall"], fig["cpu"]
    rows = [[label, wall["by_function_pct"][label], cpu["by_function_pct"][label]]
            for label in wall["by_function_pct"]]
    packages = [[name, pct, cpu["by_package_pct"].get(name)]
                for name, pct in wall["by_package_pct"].items()]
    return ["## Profile of the poll path", "",
            f"`{fig['py_spy']}` ({wall['wrk']['rps']:,.0f} and {cpu['wrk']['rps']:,.0f} req/s "
            "while sampled). Share of the samples inside a request that have the function on "
            "the stack (inclusive; rows overlap). `wall` keeps samples blocked on Redis's "
            "answer; `CPU` drops the ones py-spy sees as idle.", "",
            *_table(["function", "wall %", "CPU %"], rows),
            "Where the deepest frame is (exclusive; `redis` = redis-py sending, waiting for "
            "and parsing answers):", "",
            *_table(["package", "wall %", "CPU %"], packages)]


def dominates(figs: dict[str, Any]) -> list[str]:
    """What the figures and the profile say about the goals missed."""
    notes = []
    for row in figs.get("url", {}).get("rows", []):
        phases = row.get("phases_p50_ms", {})
        if row["cli"] == "real" and (row["ratio_p50"] or 0) > 1.1 and phases.get("cli"):
            notes.append(
                f"Time to URL, {row['setup']} {row['mode']}: the broker's own steps take "
                f"{phases['queue']} ms (POST → task received) and {phases['seen']} ms (URL "
                f"stored → seen by the poll) at p50; inside the worker, "
                + ("the container and " if row["runtime"] == "docker" else "")
                + f"the CLI's start: {phases['cli']} ms, against "
                f"{row['bare'].get('p50_ms')} ms bare"
                + (f" ({row['runtime_only'].get('p50_ms')} ms for the runtime alone)"
                   if row["runtime"] == "docker" else "")
                + ". On 2 cores the 5 ms poll loop through the API likely competes with the "
                "CLI's start for CPU.")
    hand = figs.get("handoff", {})
    if hand.get("handoff") and hand["handoff"]["p50_ms"] - \
            hand["post_round_trip"]["p50_ms"] > 80:
        notes.append("Handoff: the worker's two `send()` calls (the code, then Enter) each "
                     "sleep pexpect's default `delaybeforesend` (50 ms) first: "
                     f"{hand['handoff']['p50_ms']} ms against a POST of "
                     f"{hand['post_round_trip']['p50_ms']} ms.")
    prof = figs.get("profile", {}).get("wall")
    trips = figs.get("poll", {}).get("round_trips") or {}
    if prof:
        fn = prof["by_function_pct"]
        notes.append(
            f"Poll: {trips.get('per_poll', '?')} Redis round trip(s) per poll; redis-py is the "
            f"deepest frame in {prof['by_package_pct'].get('redis')} % of request time. "
            "flask-limiter's before-request check holds "
            f"{fn['flask-limiter: its before-request check (no limit on polls)']} %; the "
            "session's read (with its limit step) "
            f"{fn['SessionStore.read (one script: record, heartbeat, payload, limit step)']} %; "
            f"gunicorn {fn['gunicorn (parse request, write response)']} %; werkzeug "
            f"{fn['werkzeug request/response objects and routing']} %; JSON "
            f"{fn['serialisation (JSON)']} %.")
    return ["## What dominates", "", *[f"- {n}" for n in notes], ""] if notes else []


def write(results: dict[str, Any]) -> None:
    figs, m = results.get("figures", {}), results["machine"]
    lines = [HEADER,
             f"**Last run:** {results['date']}, `{results['command']}`, "
             f"{results.get('seconds')} s. "
             "Load average "
             f"{', '.join(f'{x:.1f}' for x in m['loadavg_start'])} at the start, "
             f"{', '.join(f'{x:.1f}' for x in m.get('loadavg_end', []))} at the end (other "
             "work on the machine slows a figure and its ceiling alike; compare ratios).", "",
             f"**Machine:** {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
             f"Linux {m['kernel']}, Python {m['python']}, {m.get('redis', '')}, "
             f"{m.get('wrk', '')}, {m.get('gunicorn', '')}.", "",
             *goals(figs), *fig_url(figs.get("url", {})),
             *fig_handoff(figs.get("handoff", {})), *fig_poll(figs.get("poll", {})),
             *fig_density(figs.get("density", {})), *fig_burst(figs.get("burst", {})),
             *fig_gvisor.report(figs.get("gvisor", {})),
             *profile(figs.get("profile", {})), *dominates(figs),
             "## Run it", "",
             "`make bench` (= `.venv/bin/python -m bench`), or `python -m bench --quick` (a "
             "1–2 minute smoke run); `--only url,handoff,poll,density,burst,gvisor,profile`; "
             "`--docker/--no-docker` (default: when an engine with the login images answers, "
             "`$DOCKER_HOST` or `scripts/docker-engine.sh`'s); `--real-cli PATH` (default: the "
             "pinned CLI in `~/.cache/vaporforge-cli/`). Needs `wrk` and `redis-benchmark` "
             "(Debian `wrk`, `redis-tools`); `profile` needs py-spy. JSON: "
             "`bench/results/latest.json`.", ""]
    carried = [f"figure `{k}` is from an earlier run ({v['from']})" for k, v in figs.items()
               if v.get("from")]
    notes = carried + results.get("notes", []) + [f"figure {k} failed: {v.strip().splitlines()[-1]}"
                                        for k, v in results.get("errors", {}).items()]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
