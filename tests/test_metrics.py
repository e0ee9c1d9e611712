"""/metrics counts what happened, across API processes; each worker serves its
own series; log lines are JSON with the session id and nothing secret."""

from __future__ import annotations

import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli_simulator import tokens_for
from tests.support.processes import free_port, wait_for
from tests.support.stack import running_stack


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = requests.get(url, timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture(scope="module")
def observed(databases, work_root):
    port = free_port()
    with running_stack(databases, work_root, "metrics", concurrency=4,
                       extra_env={"VF_METRICS_PORT": str(port), "VF_LOG_FORMAT": "json"}) as stack:
        stack.metrics_url = f"http://127.0.0.1:{port}/metrics"
        yield stack


def test_metrics_match_a_scripted_run(observed):
    stack = observed
    ready, failing, cancelled = (stack.create("oauth") for _ in range(3))
    for session in (ready, failing, cancelled):
        stack.wait_state(session, "awaiting_code")
    stack.call("POST", ready, "/code", json={"code": "metrics-ok-code#state"})
    stack.call("POST", failing, "/code", json={"code": "metrics-fail-code#state"})
    stack.call("DELETE", cancelled)
    stack.wait_state(ready, "ready")
    stack.wait_state(failing, "failed")
    assert stack.call("POST", ready, "/credentials").status_code == 200
    wait_for(lambda: sum(value for (name, _), value in scrape(stack.metrics_url).items()
                         if name == "vaporforge_worker_logins_total") == 3,
             what="the worker to finish and count its three logins")

    # gunicorn runs two API processes here: every scrape, whichever answers, agrees.
    seen = [scrape(stack.url("/metrics")) for _ in range(4)]
    assert all(sample == seen[0] for sample in seen)
    api = seen[0]
    assert api[("vaporforge_sessions_created_total", ())] == 3
    assert api[("vaporforge_sessions_reached_total", (("state", "ready"),))] == 1
    assert api[("vaporforge_sessions_ended_total", (("code", ""), ("state", "claimed")))] == 1
    assert api[("vaporforge_sessions_ended_total",
                (("code", "exchange_failed"), ("state", "failed")))] == 1
    assert api[("vaporforge_sessions_ended_total", (("code", ""), ("state", "cancelled")))] == 1
    assert api[("vaporforge_sessions_live", (("state", "awaiting_code"),))] == 0
    assert api[("vaporforge_capacity_slots", (("kind", "total"),))] == 4
    assert api[("vaporforge_workers", ())] == 1

    worker = scrape(stack.metrics_url)
    assert worker[("vaporforge_worker_time_to_url_seconds_count", ())] == 3
    assert worker[("vaporforge_worker_time_to_ready_seconds_count", ())] == 1
    assert worker[("vaporforge_worker_logins_total", (("state", "ready"),))] == 1
    assert worker[("vaporforge_worker_logins_total", (("state", "failed"),))] == 1
    assert worker[("vaporforge_worker_slots", (("kind", "total"),))] == 4
    versions = [labels for (name, labels) in worker if name == "vaporforge_worker_cli_info"]
    assert len(versions) == 1 and dict(versions[0])["runtime"] == "local"
    assert dict(versions[0])["version"] not in ("", "unavailable")


def test_log_lines_are_json_with_the_session_id_and_no_secret(observed):
    stack = observed
    code = "log-secret-code-0123456789#state"
    session, _ = stack.sign_in("oauth", code)
    lines = [json.loads(line) for line in (stack.log_dir / "worker.log").read_text().splitlines()
             if line.startswith("{")]
    mine = [line for line in lines if session["session_id"] in line["message"]]
    assert mine and all(line["session_id"] == session["session_id"] for line in mine)
    assert {"time", "level", "logger", "message"} <= set(mine[0])
    logs = stack.logs()
    assert code not in logs and tokens_for(code)["access"] not in logs
