"""Figure 6: runc and runsc (gVisor) side by side, in one run: time to URL and
the memory of one waiting login, with the real, pinned CLI in login containers
(``vaporforge/login:<pin>``, network ``none``).

Per runtime, the runs alternating between the two:

- ``start``: the worker's runtime creates and starts a login container
  (``DockerRuntime.start``); ``exec → URL``: the CLI started by an exec in that
  running container until its URL and prompt are read (the worker's driver);
- ``broker``: ``POST`` → ``awaiting_code`` through the API, Celery and Redis
  (polled every 5 ms), no warm pool;
- ``warm``: the same stack with ``VF_WARM_POOL=oauth:1``, a warm entry waiting
  (refill not timed);
- memory: a few logins waiting at once through the broker; for each container,
  its cgroup's memory (the engine's stats: all of it, and without the inactive
  file cache as ``docker stats`` shows it) and the host processes in its cgroup
  (runc: the CLI and the image's wait; runsc: gVisor's Sentry, gofer and ptrace
  stubs), their PSS and USS summed.

Needs the engine to have runtime ``runsc`` (scripts/docker-engine.sh registers
Debian's). Nothing reaches the internet.
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import docker

from bench.common import CLI_VERSION, HttpClient, Lab, Options, Stack, summary, wait_for
from bench.fig_density import memory_kib
from bench.fig_url import Setup, _sample, broker_once, warm_once
from vaporforge.session.states import LoginMode
from worker.driver import LoginDriver
from worker.login import BASE_ENV
from worker.runtimes.base import SpawnSpec
from worker.runtimes.docker_runtime import SESSION_LABEL, DockerRuntime

RUNTIMES = ("runc", "runsc")
IMAGE = f"vaporforge/login:{CLI_VERSION}"
MODE = LoginMode.OAUTH
WARM_GOAL_MS = 10.0
"""With the warm pool, the URL arrives within this under runsc (p50)."""


def setup(runtime: str) -> Setup:
    env = {"VF_RUNTIME": "docker", "VF_DOCKER_NETWORK": "none", "VF_LOGIN_IMAGE": IMAGE,
           "VF_DOCKER_RUNTIME": "" if runtime == "runc" else runtime}
    return Setup(f"real CLI, {runtime}", "docker", "real", "claude", [MODE], env, IMAGE)


def engine() -> docker.DockerClient:
    return docker.DockerClient(os.environ["DOCKER_HOST"], timeout=60)


def runtime_facts(client: docker.DockerClient) -> dict[str, Any]:
    """What each runtime is on this engine: its path and arguments, and versions."""
    known = client.info().get("Runtimes") or {}
    facts: dict[str, Any] = {}
    for name in RUNTIMES:
        entry = known.get(name) or {}
        args = entry.get("runtimeArgs") or []
        path = entry.get("path") or name
        version = "unknown"
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
            version = out.stdout.splitlines()[0].strip() if out.stdout else "unknown"
        platform = next((a.split("=", 1)[1] for a in args if a.startswith("--platform=")),
                        "ptrace (runsc's default)" if name == "runsc" else "–")
        facts[name] = {"path": path, "args": args, "version": version, "platform": platform}
    return facts


def split_once(runtime: str) -> tuple[float, float]:
    """(container start, exec → URL) in seconds, through the worker's own runtime."""
    docker_runtime = DockerRuntime(IMAGE, network="none", base_url=os.environ["DOCKER_HOST"],
                                   docker_runtime=None if runtime == "runc" else runtime)
    started = time.perf_counter()
    place = docker_runtime.start(f"bench-{uuid.uuid4().hex[:8]}", int(time.time()) + 120)
    running = time.perf_counter()
    try:
        spec = SpawnSpec(("claude", *MODE.cli_args), dict(BASE_ENV))
        LoginDriver(place.spawn(spec), MODE).read_url(60)
        return running - started, time.perf_counter() - running
    finally:
        place.stop()


def split_once_total(runtime: str, into: dict[str, list[float]]) -> float:
    """:func:`split_once`, its two parts appended to ``into``; returns their sum."""
    start, url = split_once(runtime)
    into["start"].append(start)
    into["exec_url"].append(url)
    return start + url


def _cgroup_procs(container_id: str) -> list[int]:
    """The host pids in the container's cgroup (cgroup v1 or v2, cgroupfs or systemd)."""
    patterns = [f"/sys/fs/cgroup/memory/docker/{container_id}/cgroup.procs",
                f"/sys/fs/cgroup/docker/{container_id}/cgroup.procs",
                f"/sys/fs/cgroup/**/docker-{container_id}.scope/cgroup.procs"]
    for pattern in patterns:
        for path in glob.glob(pattern, recursive=True):
            with contextlib.suppress(OSError):
                return [int(pid) for pid in open(path).read().split()]
    return []


def container_memory(client: docker.DockerClient, container_id: str) -> dict[str, float]:
    """MiB: cgroup usage, usage without inactive file cache, host PSS and USS."""
    stats = client.api.stats(container_id, stream=False, one_shot=True)["memory_stats"]
    detail = stats.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    host = {"pss": 0, "uss": 0}
    pids = _cgroup_procs(container_id)
    for pid in pids:
        with contextlib.suppress(OSError):
            one = memory_kib(pid)
            host["pss"] += one["pss"]
            host["uss"] += one["uss"]
    mib = 2**20
    return {"cgroup": round(stats["usage"] / mib, 1),
            "cgroup_no_cache": round((stats["usage"] - inactive) / mib, 1),
            "host_pss": round(host["pss"] / 1024, 1) if pids else 0.0,
            "host_uss": round(host["uss"] / 1024, 1) if pids else 0.0,
            "host_processes": len(pids)}


def waiting_memory(stack: Stack, client: docker.DockerClient, count: int) -> dict[str, Any]:
    """Memory of ``count`` logins waiting at once at the CLI's prompt."""
    http = HttpClient(stack)
    sessions = [http.create(MODE.value) for _ in range(count)]
    try:
        for session in sessions:
            http.wait_state(session, "awaiting_code", timeout=120, interval=0.05)
        time.sleep(2.0)  # let the CLIs settle at their prompts
        each = []
        for session in sessions:
            found = client.api.containers(
                filters={"label": f"{SESSION_LABEL}={session['session_id']}"})
            each += [container_memory(client, c["Id"]) for c in found]
    finally:
        for session in sessions:
            with contextlib.suppress(Exception):
                http.call("DELETE", session)
        wait_for(lambda: not client.api.containers(all=True,
                                                    filters={"label": SESSION_LABEL}),
                 timeout=60, interval=0.1, what="the waiting logins' containers to go")
    out: dict[str, Any] = {"logins": count, "containers": len(each)}
    for key in ("cgroup", "cgroup_no_cache", "host_pss", "host_uss"):
        values = [m[key] for m in each]
        out[key] = {"min": min(values), "max": max(values),
                    "mean": round(sum(values) / len(values), 1)} if values else {}
    out["host_processes"] = max((m["host_processes"] for m in each), default=0)
    return out


@contextlib.contextmanager
def stacks(lab: Lab, db: int, warm: bool) -> Iterator[dict[str, Stack]]:
    """One stack per runtime, both up at once (so the runs can alternate)."""
    with contextlib.ExitStack() as held:
        found = {}
        for offset, runtime in enumerate(RUNTIMES):
            env = dict(setup(runtime).env)
            if warm:
                env["VF_WARM_POOL"] = f"{MODE.value}:1"
            found[runtime] = held.enter_context(lab.stack(
                f"gvisor-{'warm' if warm else 'cold'}-{runtime}", db=db + 2 * offset,
                login_command="claude", env=env))
        yield found


def run(lab: Lab, opts: Options) -> dict[str, Any]:
    if not opts.docker:
        opts.notes.append("figure gvisor: no Docker engine with the login images; skipped")
        return {"skipped": "no Docker engine"}
    client = engine()
    facts = runtime_facts(client)
    if "runsc" not in (client.info().get("Runtimes") or {}):
        client.close()
        opts.notes.append("figure gvisor: the engine has no runtime runsc (apt-get install "
                          "runsc, then scripts/docker-engine.sh stop and start); skipped")
        return {"skipped": "no runtime runsc"}
    runs, count = opts.pick(10, 2), opts.pick(6, 2)
    times: dict[str, dict[str, list[float]]] = {
        r: {"start": [], "exec_url": [], "broker": [], "warm": []} for r in RUNTIMES}
    failures: dict[str, list[str]] = {r: [] for r in RUNTIMES}
    memory: dict[str, Any] = {}
    try:
        with stacks(lab, db=20, warm=False) as cold:
            clients = {r: HttpClient(s) for r, s in cold.items()}
            phases: dict[str, list[float]] = {"queue": [], "cli": [], "seen": []}
            for runtime in RUNTIMES:  # warm-up: image layers, page cache, imports
                split_once(runtime)
                broker_once(clients[runtime], setup(runtime), MODE, phases)
            for _ in range(runs):
                for runtime in RUNTIMES:
                    t, fail = times[runtime], failures[runtime]
                    split: list[float] = []
                    _sample(split, fail, "start + exec", partial(split_once_total, runtime, t))
                    _sample(t["broker"], fail, "broker",
                            partial(broker_once, clients[runtime], setup(runtime), MODE, phases))
            for runtime in RUNTIMES:
                memory[runtime] = waiting_memory(cold[runtime], client, count)
                print(f"  gvisor {runtime}: {count} waiting, cgroup "
                      f"{memory[runtime]['cgroup']} MiB each", flush=True)
        with stacks(lab, db=28, warm=True) as warm:
            clients = {r: HttpClient(s) for r, s in warm.items()}
            for _ in range(runs):
                for runtime in RUNTIMES:
                    _sample(times[runtime]["warm"], failures[runtime], "warm",
                            partial(warm_once, clients[runtime], setup(runtime), MODE))
    finally:
        client.close()
    rows = []
    for runtime in RUNTIMES:
        t = times[runtime]
        row = {"runtime": runtime, **facts[runtime], "memory": memory.get(runtime, {}),
               "failures": failures[runtime], **{k: summary(v) for k, v in t.items()}}
        rows.append(row)
        print(f"  gvisor {runtime}: start p50 {row['start'].get('p50_ms')} ms, exec → URL p50 "
              f"{row['exec_url'].get('p50_ms')} ms, broker p50 {row['broker'].get('p50_ms')} "
              f"ms, warm p50 {row['warm'].get('p50_ms')} ms", flush=True)
    return {"runs": runs, "mode": MODE.value, "image": IMAGE, "rows": rows,
            "warm_goal_ms": WARM_GOAL_MS}


# -- BENCHMARKS.md -------------------------------------------------------------------
def _span(value: dict[str, float]) -> str:
    return f"{value['min']}–{value['max']}" if value else "–"


def goal(fig: dict[str, Any]) -> list[Any] | None:
    """The goals table's row: with the warm pool, the URL within 10 ms under runsc."""
    row = next((r for r in fig.get("rows", []) if r["runtime"] == "runsc"), None)
    if not row or not row["warm"].get("n"):
        return None
    p50 = row["warm"]["p50_ms"]
    return ["Time to URL with the warm pool under gVisor (runsc), real CLI, p50",
            f"≤ {fig['warm_goal_ms']:g} ms", f"{p50} ms",
            "met" if p50 <= fig["warm_goal_ms"] else "missed"]


def report(fig: dict[str, Any]) -> list[str]:
    rows = fig.get("rows")
    if not rows:
        return []
    head = ["runtime", "platform", "start p50", "exec → URL p50", "exec → URL p95",
            "broker p50", "broker p95", "warm p50", "warm p95", "cgroup MiB",
            "cgroup w/o cache MiB", "host PSS MiB", "host USS MiB", "failed runs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        mem = r.get("memory", {})
        cells = [f"{r['runtime']} ({r['version']})", r["platform"], r["start"].get("p50_ms"),
                 r["exec_url"].get("p50_ms"), r["exec_url"].get("p95_ms"),
                 r["broker"].get("p50_ms"), r["broker"].get("p95_ms"),
                 r["warm"].get("p50_ms"), r["warm"].get("p95_ms"),
                 _span(mem.get("cgroup", {})), _span(mem.get("cgroup_no_cache", {})),
                 _span(mem.get("host_pss", {})), _span(mem.get("host_uss", {})),
                 len(r.get("failures", []))]
        lines.append("| " + " | ".join("–" if c is None else str(c) for c in cells) + " |")
    logins = next((r["memory"].get("logins") for r in rows if r.get("memory")), "–")
    args = {r["runtime"]: " ".join(r["args"]) or "none" for r in rows}
    failed = [f"- {r['runtime']}: {f}" for r in rows for f in r.get("failures", [])]
    return ["## 6. runc and runsc (gVisor) side by side", "",
            f"The real CLI ({fig['image']}, {fig['mode']}, network `none`), {fig['runs']} runs "
            "per runtime, alternating. `start`: the worker's runtime creates and starts a "
            "login container; `exec → URL`: the CLI started by an exec in it until its URL "
            "and prompt; `broker`: POST → `awaiting_code` (5 ms poll), no pool; `warm`: with "
            "`VF_WARM_POOL=oauth:1`, an entry waiting. Memory: "
            f"{logins} logins of one runtime waiting at once, per container (min–max): its "
            "cgroup (engine stats; without the inactive file cache as `docker stats` shows "
            "it) and the host processes in it (runc: the CLI; runsc: gVisor's Sentry, gofer "
            f"and ptrace stubs), PSS and USS. Runtime arguments: runsc `{args.get('runsc')}`. "
            "Milliseconds unless marked.", "", *lines, "", *failed, *([""] if failed else []),
            "Alone: `python -m bench --only gvisor` (`scripts/docker-engine.sh start` "
            "registers runsc when Debian's package is installed).", ""]
