#!/usr/bin/env bash
# The quick tier (make test-quick): the in-process tests on a real redis-server,
# without Docker, real CLIs, the browser or the broker's processes (the markers
# docker, realcli, browser, stack; see tests/support/tiers.py). Installs only
# redis-server and the virtualenv, as scripts/test.sh does; extra arguments go to
# pytest. The README's test command (scripts/test.sh) stays the full suite.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VF_VENV:-$PWD/.venv}
source scripts/lib.sh
apt_install redis-server:redis-server
ensure_venv "$VENV"
VF_DOCKER_TESTS=0 VF_REAL_CLI_TESTS=0 exec "$VENV/bin/python" -m pytest -q \
  -m "not docker and not realcli and not browser and not stack" "$@"
