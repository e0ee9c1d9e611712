"""deploy/grafana/vaporforge.json is deploy/grafana/build_dashboard.py's output;
every panel query and alert expression parses (promtool, as recording rules),
and every metric they name is exported by the API's /metrics or a worker's port,
scraped here over HTTP (a misspelled metric fails)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from tests.support.processes import free_port
from tests.test_alerts import RULES, alerts, promtool
from vaporforge.settings import Settings
from worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parent.parent
BUILDER = ROOT / "deploy" / "grafana" / "build_dashboard.py"
BOARD = ROOT / "deploy" / "grafana" / "vaporforge.json"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every target."""


def builder():
    spec = importlib.util.spec_from_file_location("build_dashboard", BUILDER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def panel_expressions() -> list[str]:
    exprs: list[str] = builder().expressions(json.loads(BOARD.read_text()))
    for variable, value in GRAFANA_VARIABLES.items():
        exprs = [expr.replace(variable, value) for expr in exprs]
    return exprs


def alert_expressions() -> list[str]:
    return [rule["expr"] for rule in alerts()]


_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
             "bool", "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not
    functions, keywords, label names or durations."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)      # strings (label values)
    bare = re.sub(r"\{[^}]*\}", " ", bare)              # label matchers
    bare = re.sub(r"\[[^\]]*\]", " ", bare)             # ranges
    bare = _GROUPING.sub(" ", bare)                     # grouping label lists
    bare = re.sub(r"\boffset\s+\w+", " ", bare)
    names = set()
    for found in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", bare):
        if found.group(2) is None and found.group(1).lower() not in _KEYWORDS:
            names.add(found.group(1))
    return names


def exported(text: str) -> set[str]:
    """The series names an exposition offers, with a histogram's parts."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + part for part in ("_bucket", "_sum", "_count"))
        elif family.type == "info":
            names.add(family.name + "_info")
        else:
            names.add(family.name)
    return names


@pytest.fixture(scope="module")
def scraped(redis_url_for_module: str) -> set[str]:
    api = create_app({"SETTINGS": Settings(redis_url=redis_url_for_module)}).test_client()
    api_text = api.get("/metrics").get_data(as_text=True)
    worker = WorkerMetrics()
    port = free_port()
    server = worker.serve(port, host="127.0.0.1")
    try:
        worker_text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
    assert "vaporforge_sessions_created_total" in api_text
    assert "vaporforge_worker_slots" in worker_text
    return exported(api_text) | exported(worker_text)


@pytest.fixture(scope="module")
def redis_url_for_module(databases):
    url = databases.allocate()
    yield url
    databases.release(url)


def test_the_json_is_the_scripts_output():
    assert BOARD.read_text() == builder().render(), \
        "run python deploy/grafana/build_dashboard.py and commit vaporforge.json"


def test_the_dashboard_shows_what_operators_need():
    text = " ".join(panel_expressions())
    for needed in ("vaporforge_sessions_created_total", 'state="ready"', 'state="claimed"',
                   "by (code)", "vaporforge_worker_time_to_url_seconds_bucket",
                   "vaporforge_worker_time_to_ready_seconds_bucket", "histogram_quantile(0.5",
                   "histogram_quantile(0.95", 'vaporforge_worker_slots{kind="free"}',
                   'vaporforge_worker_slots{kind="in_use"}', "vaporforge_warm_entries",
                   "vaporforge_refresh_relayed_total", "vaporforge_webhook_deliveries_total",
                   "vaporforge_worker_cli_info"):
        assert needed in text, needed


def test_every_query_parses(tmp_path):
    queries = panel_expressions() + alert_expressions()
    rules = {"groups": [{"name": "queries", "rules": [
        {"record": f"vaporforge:query_{i}", "expr": expr} for i, expr in enumerate(queries)]}]}
    wrapped = tmp_path / "queries.yml"
    wrapped.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(wrapped))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # And a broken query is caught the same way.
    wrapped.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [
        {"record": "vaporforge:broken", "expr": "sum(rate(vaporforge_workers[5m])"}]}]}))
    assert promtool("check", "rules", str(wrapped)).returncode != 0


def test_every_metric_a_panel_or_alert_names_is_exported(scraped):
    for expr in panel_expressions() + alert_expressions():
        unknown = metric_names(expr) - scraped - PROMETHEUS_OWN
        assert not unknown, f"{sorted(unknown)} in {expr!r}: not exported"


def test_a_misspelled_metric_is_caught(scraped):
    typo = "vaporforge_worker_time_to_url_second_bucket"
    assert metric_names(f'sum by (le) (rate({typo}{{kind="x"}}[5m])) offset 5m') == {typo}
    assert metric_names("max(vaporforge_workrs) / on (job) group_left up") == \
        {"vaporforge_workrs", "up"}
    assert "vaporforge_workrs" not in scraped


def test_the_builder_writes_the_file(tmp_path):
    copy = tmp_path / "build_dashboard.py"
    copy.write_text(BUILDER.read_text())
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True, timeout=60)
    assert (tmp_path / "vaporforge.json").read_text() == BOARD.read_text()
    assert RULES.exists()
