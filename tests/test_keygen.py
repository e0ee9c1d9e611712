"""`python -m vaporforge.keygen NAME` makes every secret a deployment needs, and
the broker starts on its output as it stands."""

from __future__ import annotations

import subprocess
import sys

from vaporforge.hostkeys import verify
from vaporforge.settings import Settings


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaporforge.keygen", *args],
                          capture_output=True, text=True, timeout=30, check=False)


def env_of(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines()
                if line and not line.startswith("#"))


def test_the_output_is_a_working_deployment_and_the_host_key_verifies():
    made = run("app1")
    assert made.returncode == 0, made.stderr
    env = env_of(made.stdout)
    host_key = env.pop("VAPORFORGE_HOST_KEY")
    settings = Settings.from_env({**env, "VF_WEBHOOK_URL": "https://app1.example/hooks"})
    assert verify(settings.host_keys, host_key) == "app1"
    assert host_key not in made.stdout.split("VF_HOST_KEYS=")[1].splitlines()[0]
    assert len(settings.grant_keys) == 1 and settings.metrics_token == env["VF_METRICS_TOKEN"]


def test_each_run_makes_new_secrets():
    first, second = env_of(run("app1").stdout), env_of(run("app1").stdout)
    assert all(first[name] != second[name] for name in first)


def test_a_bad_name_or_no_name_is_refused_with_a_usage_line():
    for args in ((), ("bad name",), ("--help",)):
        done = run(*args)
        assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
