"""Writes deploy/grafana/vaporforge.json, the Grafana dashboard (this script is its
source: edit here, run ``python deploy/grafana/build_dashboard.py``;
tests/test_dashboard.py checks that the JSON is this script's output, that every
query parses and that every metric it names is one the API or a worker exports).

The API's series are computed from Redis at each scrape, the same from every API
process, so they are aggregated with ``max``; the workers' own series with ``sum``
or by ``instance``. Rates are per minute.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("vaporforge.json")
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

Target = tuple[str, str]  # (PromQL, legend)


def per_minute(expr: str) -> str:
    return f"60 * {expr}"


def quantiles(metric: str) -> list[Target]:
    return [(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[{RATE}])))",
             f"p{int(q * 100)}") for q in (0.5, 0.95)]


# (title, unit, kind, targets) in rows of two; kind: timeseries, table or stat.
PANELS: list[tuple[str, str, str, list[Target]]] = [
    ("Logins started, ready, claimed, failed (per minute)", "short", "timeseries", [
        (per_minute(f"max(rate(vaporforge_sessions_created_total[{RATE}]))"), "started"),
        (per_minute(f'max(rate(vaporforge_sessions_reached_total{{state="ready"}}[{RATE}]))'),
         "ready"),
        (per_minute(f'max(rate(vaporforge_sessions_ended_total{{state="claimed"}}[{RATE}]))'),
         "claimed"),
        (per_minute(f'sum(max by (code) (rate(vaporforge_sessions_ended_total'
                    f'{{state="failed"}}[{RATE}])))'), "failed"),
    ]),
    ("Logins failed by code (per minute)", "short", "timeseries", [
        (per_minute(f'max by (code) (rate(vaporforge_sessions_ended_total{{state="failed"}}'
                    f'[{RATE}]))'), "{{code}}"),
    ]),
    ("Time to URL", "s", "timeseries", quantiles("vaporforge_worker_time_to_url_seconds")),
    ("Time to ready", "s", "timeseries", quantiles("vaporforge_worker_time_to_ready_seconds")),
    ("Slots per worker", "short", "timeseries", [
        ('sum by (instance) (vaporforge_worker_slots{kind="in_use"})', "{{instance}} in use"),
        ('sum by (instance) (vaporforge_worker_slots{kind="free"})', "{{instance}} free"),
    ]),
    ("Admission: slots and workers", "short", "timeseries", [
        ("max by (kind) (vaporforge_capacity_slots)", "{{kind}}"),
        ("max(vaporforge_workers)", "workers"),
        ("max(vaporforge_capacity_slots{kind=\"free\"}) / max(vaporforge_capacity_slots"
         "{kind=\"total\"})", "free share"),
    ]),
    ("Warm entries", "short", "timeseries", [
        ("max by (mode) (vaporforge_warm_entries)", "{{mode}}"),
        ("sum by (instance, mode) (vaporforge_worker_warm_entries)", "{{instance}} {{mode}}"),
    ]),
    ("Live sessions by state", "short", "timeseries", [
        ("max by (state) (vaporforge_sessions_live)", "{{state}}"),
    ]),
    ("Refresh relay outcomes (per minute)", "short", "timeseries", [
        (per_minute(f"max by (outcome) (rate(vaporforge_refresh_relayed_total[{RATE}]))"),
         "{{outcome}}"),
    ]),
    ("Tickets (per minute)", "short", "timeseries", [
        (per_minute(f"max by (host) (rate(vaporforge_tickets_minted_total[{RATE}]))"),
         "minted {{host}}"),
        (per_minute(f"max by (code) (rate(vaporforge_tickets_refused_total[{RATE}]))"),
         "refused {{code}}"),
    ]),
    ("Webhook outcomes (per minute)", "short", "timeseries", [
        (per_minute(f"sum by (host, outcome) (rate(vaporforge_webhook_deliveries_total"
                    f"[{RATE}]))"), "{{host}} {{outcome}}"),
    ]),
    ("Webhook backlog per worker", "short", "timeseries", [
        ("sum by (instance) (vaporforge_webhook_backlog)", "{{instance}}"),
    ]),
    ("CLI versions", "short", "table", [
        ("count by (runtime, version) (vaporforge_worker_cli_info)", "{{runtime}} {{version}}"),
    ]),
    ("Reaper actions (per minute)", "short", "timeseries", [
        (per_minute(f"sum by (action) (rate(vaporforge_reaper_actions_total[{RATE}]))"),
         "{{action}}"),
    ]),
]


def panel(number: int, title: str, unit: str, kind: str, targets: list[Target]) -> dict:
    body: dict[str, Any] = {
        "id": number + 1, "type": kind, "title": title, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (number % 2), "y": 8 * (number // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                     "legendFormat": legend, **({"instant": True, "format": "table"}
                                                if kind == "table" else {})}
                    for i, (expr, legend) in enumerate(targets)],
    }
    return body


def dashboard() -> dict:
    return {
        "uid": "vaporforge", "title": "VaporForge login broker", "schemaVersion": 39,
        "version": 1, "editable": True, "tags": ["vaporforge"], "timezone": "utc",
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource",
                                 "query": "prometheus", "label": "Prometheus"}]},
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=True) + "\n"


def expressions(board: dict) -> list[str]:
    """Every query of ``board`` (a dashboard as loaded from its JSON)."""
    return [target["expr"] for p in board["panels"] for target in p["targets"]]


if __name__ == "__main__":
    OUTPUT.write_text(render())
    sys.stdout.write(f"wrote {OUTPUT}\n")
