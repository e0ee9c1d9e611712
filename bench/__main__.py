"""``python -m bench``: run the benchmark suite, write JSON and BENCHMARKS.md.

    python -m bench [--quick] [--only url,handoff,poll,density,burst,gvisor]
                    [--docker | --no-docker] [--real-cli PATH] [--report-only]

Figures: ``url`` (1, time to URL), ``handoff`` (2), ``poll`` (3), ``density``
(4), ``burst`` (5), ``gvisor`` (6, runc and runsc side by side); ``profile``
(py-spy on the poll path) runs only when named.
Results: ``bench/results/latest.json`` (the only one kept; git keeps the history); the table
goes to ``BENCHMARKS.md`` at the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import (
    fig_burst,
    fig_density,
    fig_gvisor,
    fig_handoff,
    fig_poll,
    fig_url,
    profile_poll,
    report,
)
from bench.common import PINNED_CLI, PRIVATE_DOCKER, ROOT, Lab, Options, machine

FIGURES: dict[str, Callable[[Lab, Options], dict[str, Any]]] = {
    "url": fig_url.run, "handoff": fig_handoff.run, "poll": fig_poll.run,
    "density": fig_density.run, "burst": fig_burst.run, "gvisor": fig_gvisor.run}
ON_REQUEST = {"profile": profile_poll.run}
RESULTS = ROOT / "bench" / "results"


def _docker_host() -> str:
    """The engine to use: $DOCKER_HOST, else the private one scripts/docker-engine.sh
    starts; empty when neither answers."""
    import docker  # the worker's dependency; only asked when Docker figures may run

    for host in filter(None, (os.environ.get("DOCKER_HOST"), PRIVATE_DOCKER)):
        try:
            client = docker.DockerClient(host, timeout=5)
            client.ping()
            client.images.get("vaporforge/login:latest")
            client.images.get("vaporforge/login-test:latest")
            client.close()
            return host
        except Exception:  # noqa: BLE001 - any failure means: not this engine
            continue
    return ""


def ensure_tools() -> None:
    """wrk and redis-benchmark, from Debian's packages when missing (as root),
    the way scripts/test.sh installs redis-server."""
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("redis-benchmark", "redis-tools"))
               if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"python -m bench needs {', '.join(missing)} (apt-get install)")
    print(f"installing {', '.join(missing)} from Debian's packages", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env)


def options(argv: list[str]) -> tuple[Options, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few runs: a smoke test")
    parser.add_argument("--only", default="", help="comma-separated figure names")
    parser.add_argument("--docker", action=argparse.BooleanOptionalAction, default=None,
                        help="Docker runtime figures (default: when an engine with the "
                             "login images answers)")
    parser.add_argument("--real-cli", default=str(PINNED_CLI) if PINNED_CLI.exists() else "",
                        help="the real CLI (default: the pinned one, if installed)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite BENCHMARKS.md from results/latest.json")
    args = parser.parse_args(argv)
    only = frozenset(filter(None, args.only.split(",")))
    unknown = only - set(FIGURES) - set(ON_REQUEST)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    opts = Options(quick=args.quick, only=only, real_cli=args.real_cli)
    if args.docker is not False:
        opts.docker_host = _docker_host()
        opts.docker = bool(opts.docker_host)
        if args.docker and not opts.docker:
            parser.error("--docker: no engine with vaporforge/login and login-test answers")
        if opts.docker_host:
            os.environ["DOCKER_HOST"] = opts.docker_host  # for the workers the stacks start
    if not opts.real_cli:
        opts.notes.append("no real CLI: figures with it were skipped")
    return opts, args


def main(argv: list[str]) -> int:
    opts, args = options(argv)
    if args.report_only:
        report.write(json.loads((RESULTS / "latest.json").read_text()))
        return 0
    ensure_tools()
    wanted = [n for n in [*FIGURES, *ON_REQUEST] if n in opts.only or
              (not opts.only and n in FIGURES)]
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "machine": machine(),
        "options": {"quick": opts.quick, "docker": opts.docker, "real_cli": opts.real_cli,
                    "figures": wanted},
        "figures": {}, "errors": {}}
    lab = Lab()
    try:
        for name in wanted:
            print(f"figure {name} …", flush=True)
            clock = time.monotonic()
            try:
                table = {**FIGURES, **ON_REQUEST}
                results["figures"][name] = table[name](lab, opts)
            except Exception:  # noqa: BLE001 - one broken figure must not lose the others
                results["errors"][name] = traceback.format_exc()
                print(results["errors"][name], file=sys.stderr, flush=True)
            results["figures"].setdefault(name, {})["seconds"] = round(
                time.monotonic() - clock, 1)
            results["figures"][name]["date"] = results["date"]
    finally:
        lab.close()
    results["machine"]["loadavg_end"] = os.getloadavg()
    if opts.only and (RESULTS / "latest.json").exists():
        # --only: the other figures stay as the last run left them, marked as such
        earlier = json.loads((RESULTS / "latest.json").read_text())
        for name, fig in earlier.get("figures", {}).items():
            if name not in results["figures"]:
                results["figures"][name] = {**fig, "from": fig.get("from", earlier["date"])}
    results["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    results["notes"] = opts.notes
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2)
    (RESULTS / "latest.json").write_text(text)
    report.write(results)
    print(f"wrote bench/results/latest.json and BENCHMARKS.md in {results['seconds']} s")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
