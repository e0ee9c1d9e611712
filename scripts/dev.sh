#!/usr/bin/env bash
# The whole stack for development on the local runtime: redis-server, one Celery
# worker and the API on http://127.0.0.1:8000. Ctrl-C stops all three.
#   VF_LOGIN_COMMAND=claude (default; the real CLI on PATH) or
#   VF_LOGIN_COMMAND="$PWD/tests/cli_simulator.py" to try it without a Claude account.
set -euo pipefail
cd "$(dirname "$0")/.."
VF_DOCKER_TESTS=0 bash scripts/test.sh --collect-only -q >/dev/null  # installs the venv
export PATH="$PWD/.venv/bin:$PATH" PYTHONPATH=$PWD
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no & pids+=($!)
  sleep 0.5
fi
celery -A worker worker --loglevel INFO & pids+=($!)
gunicorn --bind 127.0.0.1:8000 --threads 8 'api:create_app()' & pids+=($!)
wait -n
