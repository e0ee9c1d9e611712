"""Draws the dashboard's main panels (vaporforge.json) from Prometheus as one PNG:
what an operator would see in Grafana, without Grafana (not packaged here).

    python deploy/grafana/render_panels.py --prometheus http://127.0.0.1:9090 \\
        --minutes 10 --out docs/observability-panels.png

The queries are the dashboard's own (each target's expr and legendFormat), with
Grafana's $__rate_interval given by --rate-interval, run through Prometheus's
/api/v1/query_range. tests/test_compose.py draws docs/observability-panels.png this
way after its logins when VF_PANELS_PNG names the file (docs/OPERATIONS.md).
Needs matplotlib (requirements-dev.lock).
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

BOARD = Path(__file__).with_name("vaporforge.json")
MAIN = ("Logins started, ready, claimed, failed (per minute)",
        "Logins failed by code (per minute)", "Time to URL", "Time to ready",
        "Slots per worker", "CLI versions")
"""The panels drawn, by title, in this order (two columns)."""

Fetch = Callable[[dict[str, str]], dict]
"""Runs one query_range (its parameters) and answers Prometheus's JSON."""


def main_panels(board: dict) -> list[dict]:
    by_title = {panel["title"]: panel for panel in board["panels"]}
    missing = [title for title in MAIN if title not in by_title]
    assert not missing, f"not on the dashboard: {missing}"
    return [by_title[title] for title in MAIN]


def range_queries(board: dict, start: float, end: float, step: float,
                  rate_interval: str = "1m") -> list[dict[str, str]]:
    """The query_range parameters of every target of the main panels, in order."""
    return [{"query": target["expr"].replace("$__rate_interval", rate_interval),
             "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
            for panel in main_panels(board) for target in panel["targets"]]


def legend(template: str, labels: dict[str, str]) -> str:
    named = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
    return named.strip() or shown or "(no labels)"


def render(board: dict, answers: list[dict], out: Path, title: str,
           window: tuple[float, float] | None = None) -> None:
    """Draws the main panels from ``answers`` (Prometheus's JSON for each of
    range_queries, in the same order) into ``out``; every panel spans ``window``
    (start and end, Unix seconds) when given, as a dashboard's panels do."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = main_panels(board)
    rows = (len(panels) + 1) // 2
    figure, axes = plt.subplots(rows, 2, figsize=(13, 3.4 * rows), squeeze=False)
    answered = iter(answers)
    for axis, panel in zip(axes.flat, panels, strict=False):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        drawn = 0
        for style, target in zip(("-", "--", "-.", ":") * 4, panel["targets"], strict=False):
            answer = next(answered)
            assert answer.get("status") == "success", answer
            for series in answer["data"]["result"]:
                points = [(datetime.fromtimestamp(float(t), UTC), float(v))
                          for t, v in series["values"]]
                if not points:
                    continue
                times, values = zip(*points, strict=True)
                name = legend(target.get("legendFormat", ""), series["metric"])
                axis.plot(times, values, label=name, linewidth=1.6, linestyle=style,
                          drawstyle="steps-post" if unit == "short" else "default")
                drawn += 1
        axis.set_title(panel["title"], fontsize=10, loc="left")
        axis.set_ylabel({"s": "seconds"}.get(unit, unit if unit != "short" else ""))
        axis.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=6))
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        axis.grid(True, alpha=0.3)
        axis.set_ylim(bottom=0)
        if window:
            axis.set_xlim(*(datetime.fromtimestamp(t, UTC) for t in window))
        if drawn:
            axis.legend(fontsize=8, loc="upper left")
        else:
            axis.text(0.5, 0.5, "no data", ha="center", va="center",
                      transform=axis.transAxes, color="grey")
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)
    plt.close(figure)


def over_http(prometheus: str) -> Fetch:
    def fetch(params: dict[str, str]) -> dict:
        url = f"{prometheus.rstrip('/')}/api/v1/query_range?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:
            answer: dict = json.load(response)
            return answer
    return fetch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--step", type=float, default=0, help="seconds (default: 200 points)")
    parser.add_argument("--rate-interval", default="1m")
    parser.add_argument("--out", type=Path, default=Path("observability-panels.png"))
    args = parser.parse_args()
    board = json.loads(BOARD.read_text())
    end = time.time()
    start = end - args.minutes * 60
    step = args.step or max(1.0, (end - start) / 200)
    fetch = over_http(args.prometheus)
    answers = [fetch(q) for q in range_queries(board, start, end, step, args.rate_interval)]
    render(board, answers, args.out, f"VaporForge, last {args.minutes:g} min", (start, end))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
