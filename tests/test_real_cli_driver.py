"""LoginDriver on each real CLI release, told the release's version (issue 8, defect 8).

What the worker does once it passes ``claude --version`` to the driver: the row
for that release reads the CLI's answers. No stack (the broker-level tests are in
test_real_cli.py); the local runtime spawns the CLI in an empty network namespace.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.real_clis import real_clis
from vaporforge import cli_wording
from vaporforge.cli_output import Failed, Rejected
from vaporforge.session.states import LoginMode
from worker.driver import LoginDriver
from worker.runtimes.base import SpawnSpec
from worker.runtimes.local import LocalRuntime

CLIS = real_clis()
pytestmark = pytest.mark.realcli
if not CLIS:
    pytest.skip("VF_REAL_CLI names the real CLIs (the README's test command sets it)",
                allow_module_level=True)
ENV = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "CLAUDE_CODE_FULL_SIGN_IN_LINK": "1",
       "BROWSER": "true", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1"}


@pytest.mark.parametrize("cli", CLIS, ids=[cli.name for cli in CLIS])
@pytest.mark.parametrize("mode", [LoginMode.OAUTH, LoginMode.SETUP_TOKEN])
def test_the_release_row_reads_a_refusal_and_then_a_failure(cli, mode, work_root: Path):
    version = subprocess.run([cli.path, "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert cli_wording.for_version(version) in cli_wording.ROWS
    place = LocalRuntime(str(work_root / "driver" / "homes")).start("driver", int(time.time()))
    try:
        child = place.spawn(SpawnSpec(("unshare", "--net", "--", cli.path, *mode.cli_args),
                                      env=ENV))
        driver = LoginDriver(child, mode, cli_version=version)
        assert driver.read_url(30).startswith("https://")
        refused = driver.submit("abc", 10)
        assert isinstance(refused, Rejected)
        assert refused.sentence == cli.refusals()["abc"]
        assert refused.enter_to_retry is (cli.older and mode is LoginMode.SETUP_TOKEN)
        failed = driver.submit("AbCdEfGh12345678#state-xyz", 10)
        assert isinstance(failed, Failed)
        label = cli.setup_token_offline if mode is LoginMode.SETUP_TOKEN else cli.failure_label
        assert failed.line.startswith(label)
    finally:
        place.stop()
