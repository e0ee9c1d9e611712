#!/usr/bin/env bash
# The whole stack for development on the local runtime: redis-server, one Celery
# worker and the API on http://127.0.0.1:8000. Ctrl-C stops all three.
#
#   scripts/dev.sh               (make dev) the Claude Code CLI at the version in
#                                CLAUDE_CODE_VERSION, installed once from the npm registry
#                                into ${VF_CLI_CACHE:-~/.cache/vaporforge-cli}/<version>
#   scripts/dev.sh --simulator   (make dev SIMULATOR=1) tests/support/cli_simulator.py instead: no
#                                Claude account needed; any code works, one containing
#                                "fail" is refused
#
# VF_LOGIN_COMMAND, when set, wins over both. VF_DEV_PORT (default 8000) is the API's
# port. REDIS_URL (default redis://127.0.0.1:6379/0): unless a Redis answers there, a
# redis-server without persistence is started on that URL's port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VF_VENV:-$ROOT/.venv}
simulator=0
for arg in "$@"; do
  case $arg in
    --simulator) simulator=1 ;;
    *) sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
done

source scripts/lib.sh
apt_install redis-server:redis-server redis-cli:redis-tools
ensure_venv "$VENV"
if [[ -z ${VF_LOGIN_COMMAND:-} ]]; then
  if ((simulator)); then
    VF_LOGIN_COMMAND="$VENV/bin/python $ROOT/tests/support/cli_simulator.py"
  else
    VF_LOGIN_COMMAND=$(ensure_cli)
  fi
fi
export VF_LOGIN_COMMAND PATH="$VENV/bin:$PATH" PYTHONPATH=$ROOT
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
port=${VF_DEV_PORT:-8000}

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT
trap 'exit 130' INT TERM
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  redis_port=$(python -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 6379)' "$REDIS_URL")
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no & pids+=($!)
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "== login command: $VF_LOGIN_COMMAND"
celery -A worker worker --loglevel INFO & pids+=($!)
gunicorn --bind "127.0.0.1:$port" --workers 2 --threads 4 --no-control-socket 'api:create_app()' & pids+=($!)
echo "== API on http://127.0.0.1:$port (try: curl -X POST -H 'Content-Type: application/json'" \
  "-d '{}' http://127.0.0.1:$port/api/auth/sessions)"
wait -n
