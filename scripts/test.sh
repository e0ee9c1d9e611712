#!/usr/bin/env bash
# The project's one test command. On a fresh Debian machine it installs what the
# tests need (redis-server; a virtualenv with the locked packages; with Docker
# tests on, docker.io, debootstrap and runsc (gVisor), a private dockerd and the login images),
# then runs ruff, mypy and pytest. Extra arguments go to pytest.
#
#   VF_DOCKER_TESTS=0|1    run the tests that need a Docker engine (default: 1)
#   VF_REAL_CLI_TESTS=0|1  install the Claude Code CLIs of tests/cli-versions.txt (the pin
#                          and older releases) from the npm registry into
#                          ${VF_CLI_CACHE:-~/.cache/vaporforge-cli} and drive them (default: 1);
#                          a VF_REAL_CLI already set (CLI paths, ':'-separated) is used as is
#   VF_TSC                 a tsc for tests/test_types.py; unset, scripts/install-tsc.sh installs
#                          the pinned TypeScript from the npm registry (cached)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VF_VENV:-$ROOT/.venv}
export VF_DOCKER_TESTS=${VF_DOCKER_TESTS:-1}
export VF_REAL_CLI_TESTS=${VF_REAL_CLI_TESTS:-1}

source scripts/lib.sh

# Debian packages first, one apt at a time; then the slow independent steps run side
# by side (a fresh machine spends minutes on them): the login images in the
# background, the npm downloads in the background, the virtualenv, ruff and mypy here.
apt_install redis-server:redis-server npm:npm promtool:prometheus
if [[ $VF_DOCKER_TESTS == 1 ]]; then
  apt_install dockerd:docker.io debootstrap:debootstrap docker:docker.io docker-compose:docker-compose \
    runsc:runsc  # gVisor: scripts/docker-engine.sh registers it as runtime runsc
fi
# The browser tests drive Debian's chromium (never a downloaded build).
scripts/install-browser.sh >/dev/null

cleanup=()
on_exit() { for step in "${cleanup[@]}"; do eval "$step" || true; done; }
trap on_exit EXIT
SETUP=$(mktemp -d)
cleanup+=("rm -rf '$SETUP'")

# background STEP NAME COMMAND...: run it, its output to $SETUP/NAME.log; `finish NAME`
# waits for it and fails the run (with its log) if it failed.
declare -A jobs=()
background() { local name=$1; shift; "$@" >"$SETUP/$name.out" 2>"$SETUP/$name.log" & jobs[$name]=$!; }
finish() {
  if ! wait "${jobs[$1]}"; then
    echo "== $1 failed:"; cat "$SETUP/$1.log"; exit 1
  fi
  cat "$SETUP/$1.log" >&2
}

if [[ $VF_DOCKER_TESTS == 1 ]]; then
  if ! docker info >/dev/null 2>&1; then
    echo "== starting a private dockerd"
    eval "$(scripts/docker-engine.sh start)"
    if [[ ${VF_DOCKER_STARTED:-0} == 1 ]]; then cleanup+=("scripts/docker-engine.sh stop"); fi
  fi
  export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
  echo "== building the login images (in the background)"
  background images scripts/docker-engine.sh build
fi
if [[ $VF_REAL_CLI_TESTS == 1 && -z ${VF_REAL_CLI:-} ]]; then
  echo "== the Claude Code CLIs in tests/cli-versions.txt (npm registry, cached in ${VF_CLI_CACHE:-$HOME/.cache/vaporforge-cli}; in the background)"
  background clis scripts/install-cli.sh --tested
fi
if [[ -z ${VF_TSC:-} ]]; then
  echo "== TypeScript for the d.ts check (npm registry, cached in ${VF_TSC_CACHE:-$HOME/.cache/vaporforge-tsc}; in the background)"
  background tsc scripts/install-tsc.sh
fi

ensure_venv "$VENV"
export PATH="$VENV/bin:$PATH"
echo "== ruff"
ruff check .
echo "== mypy"
mypy

if [[ -n ${jobs[images]:-} ]]; then finish images; fi
if [[ -n ${jobs[clis]:-} ]]; then
  finish clis
  VF_REAL_CLI=$(cat "$SETUP/clis.out")
  export VF_REAL_CLI
fi
if [[ -n ${jobs[tsc]:-} ]]; then
  finish tsc
  VF_TSC=$(cat "$SETUP/tsc.out")
  export VF_TSC
fi

# Most of the suite waits on processes, containers and the network, not the CPU:
# without arguments the Docker and real-CLI tiers run in a second pytest process
# beside the rest (each judges only its own CLIs: tests/support/checks.py), and
# its report follows. With arguments, one pytest runs them as given.
if (($# == 0)); then
  echo "== pytest: the Docker and real-CLI tiers in the background, the rest here"
  python -m pytest -p no:cacheprovider --durations=15 -m "docker or realcli" \
    >"$SETUP/heavy.log" 2>&1 &
  heavy=$!
  light_rc=0
  python -m pytest --durations=15 -m "not docker and not realcli" || light_rc=$?
  heavy_rc=0
  wait "$heavy" || heavy_rc=$?
  echo "== pytest: the Docker and real-CLI tiers"
  cat "$SETUP/heavy.log"
  echo "== pytest exit codes: the rest $light_rc, Docker and real CLI $heavy_rc"
  exit $((light_rc || heavy_rc))
fi
echo "== pytest"
python -m pytest --durations=25 "$@"
