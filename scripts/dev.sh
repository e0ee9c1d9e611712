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
# Sealed credentials by default, as in production; plaintext only with an explicit false.
export VF_REQUIRE_CLIENT_KEY=${VF_REQUIRE_CLIENT_KEY:-true}
port=${VF_DEV_PORT:-8000}
# A bad setting: one line saying which and why, then exit 3, before anything starts.
python -c 'import os; from vaporforge.settings import Settings; Settings.for_process(os.environ)'

# Each process runs in a session of its own, so the terminal's Ctrl-C reaches only
# this script, which stops them in order: the API and the worker first (SIGTERM:
# gunicorn's graceful stop, Celery's warm shutdown, in which logins waiting for a
# code end as worker_shutdown), and once both have exited, a redis-server started
# here, which their last calls still needed. A second Ctrl-C makes Celery stop at
# once (its cold shutdown). Not Ctrl-C for all of them at once: Redis would go
# before the worker's drain (a minute of failing calls), and gunicorn 27's gthread
# worker can deadlock on SIGINT (its signal handler takes the thread pool's lock).
worker_pid= api_pid= redis_pid=
reap() {  # wait returns early when a trapped signal comes: wait until the child is gone
  while kill -0 "$1" 2>/dev/null; do wait "$1" 2>/dev/null || true; done
}
stop_all() {
  trap 'kill -QUIT $worker_pid 2>/dev/null || true' INT
  trap '' TERM HUP
  kill $worker_pid $api_pid 2>/dev/null || true
  local pid
  for pid in $worker_pid $api_pid; do reap "$pid"; done
  if [[ -n $redis_pid ]]; then
    kill "$redis_pid" 2>/dev/null || true
    reap "$redis_pid"
  fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# setsid execs the command in this process (a background job here is no process
# group leader, there being no job control), so $! is the command's own pid.
if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
  redis_port=$(python -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).port or 6379)' "$REDIS_URL")
  setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no &
  redis_pid=$!
  for _ in $(seq 50); do redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "== login command: $VF_LOGIN_COMMAND"
setsid celery -A worker worker --loglevel INFO & worker_pid=$!
setsid gunicorn --bind "127.0.0.1:$port" --workers 2 --threads 4 --no-control-socket 'api:create_app()' &
api_pid=$!
echo "== API on http://127.0.0.1:$port (try: curl -X POST -H 'Content-Type: application/json'" \
  "-d '{}' http://127.0.0.1:$port/api/auth/sessions)"
wait -n
