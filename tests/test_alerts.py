"""deploy/prometheus/alerts.yml: promtool accepts the rules and their unit tests
pass (alerts.test.yml); every alert has a test that fires it and one that leaves
it quiet, a summary, a severity, and a runbook that is a section of
docs/OPERATIONS.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Debian's promtool (scripts/test.sh installs the prometheus package)."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: apt-get install --no-install-recommends prometheus")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120,
                          cwd=RULES.parent)


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_promtool_accepts_the_rules():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_unit_tests_pass():
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_firing_and_a_quiet_case():
    firing, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts no test fires"
    assert names - quiet == set(), "alerts no test keeps quiet"
    assert (firing | quiet) - names == set(), "tests of alerts that do not exist"


def test_every_alert_says_what_how_bad_and_where_its_runbook_is():
    sections = anchors(OPERATIONS.read_text())
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/OPERATIONS.md", rule["alert"]
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in OPERATIONS.md"


def test_the_anchor_rule_is_githubs():
    assert anchors("## Runbook: API or Redis down\n") == {"runbook-api-or-redis-down"}


def test_the_alert_tables_links_reach_their_runbooks():
    text = OPERATIONS.read_text()
    linked = set(re.findall(r"\]\(#(runbook-[\w-]+)\)", text))
    ruled = {rule["annotations"]["runbook"].partition("#")[2] for rule in alerts()}
    assert linked <= anchors(text)
    assert ruled <= linked, "alerts the tables do not link"
