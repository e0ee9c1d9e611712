"""A bad setting stops each process the operator starts with one line that names
the variable and what is wrong, a non-zero exit and no traceback: gunicorn's
`api:create_app()`, `celery -A worker worker`, the socket proxy and `make dev`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.stack  # each case starts the real process

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LINE = "vaporforge: configuration error: VF_WEBHOOK_SECRET must be at least 16 characters"

COMMANDS = {
    "gunicorn": [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "--workers", "2",
                 "--no-control-socket", "api:create_app()"],
    "celery": [str(BIN / "celery"), "-A", "worker", "worker", "--pool", "solo"],
    "socket-proxy": [sys.executable, "deploy/socket-proxy/socket_proxy.py"],
    "make dev": ["bash", "scripts/dev.sh", "--simulator"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_bad_setting_is_one_line_and_a_non_zero_exit(name: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("VF_LOGIN_COMMAND",)}
    env.update(VF_WEBHOOK_URL="https://hooks.example/vaporforge", VF_WEBHOOK_SECRET="too-short",
               VF_DEV_PORT=str(free_port()), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               VF_VENV=sys.prefix, VF_PROXY_SOCKET=str(tmp_path / "proxy.sock"))
    done = subprocess.run(COMMANDS[name], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert LINE in output.splitlines(), output
    assert "Traceback" not in output and "too-short" not in output
