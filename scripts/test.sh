#!/usr/bin/env bash
# The project's one test command. On a fresh Debian machine it installs what the
# tests need (redis-server; a virtualenv with the locked packages; with Docker
# tests on, docker.io and debootstrap, a private dockerd and the login images),
# then runs ruff and pytest. Extra arguments go to pytest.
#
#   VF_DOCKER_TESTS=0|1    run the tests that need a Docker engine (default: 1)
#   VF_REAL_CLI_TESTS=0|1  install the Claude Code CLIs of tests/cli-versions.txt (the pin
#                          and older releases) from the npm registry into
#                          ${VF_CLI_CACHE:-~/.cache/vaporforge-cli} and drive them (default: 1);
#                          a VF_REAL_CLI already set (CLI paths, ':'-separated) is used as is
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VF_VENV:-$ROOT/.venv}
export VF_DOCKER_TESTS=${VF_DOCKER_TESTS:-1}
export VF_REAL_CLI_TESTS=${VF_REAL_CLI_TESTS:-1}

apt_install() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  echo "== installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install redis-server:redis-server
if [[ $VF_DOCKER_TESTS == 1 ]]; then
  apt_install dockerd:docker.io debootstrap:debootstrap docker:docker.io docker-compose:docker-compose
fi

if [[ ! -x $VENV/bin/python ]]; then
  echo "== creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
stamp=$(cat requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ $(cat "$VENV/.locked" 2>/dev/null) != "$stamp" ]]; then
  echo "== installing locked packages and the project (editable)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.lock
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$stamp" > "$VENV/.locked"
fi
export PATH="$VENV/bin:$PATH"

echo "== ruff"
ruff check .

cleanup=()
on_exit() { for step in "${cleanup[@]}"; do eval "$step" || true; done; }
trap on_exit EXIT

if [[ $VF_DOCKER_TESTS == 1 ]]; then
  if ! docker info >/dev/null 2>&1; then
    echo "== starting a private dockerd"
    eval "$(scripts/docker-engine.sh start)"
    if [[ ${VF_DOCKER_STARTED:-0} == 1 ]]; then cleanup+=("scripts/docker-engine.sh stop"); fi
  fi
  export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
  echo "== building the login images"
  scripts/docker-engine.sh build
fi

if [[ $VF_REAL_CLI_TESTS == 1 && -z ${VF_REAL_CLI:-} ]]; then
  echo "== the Claude Code CLIs in tests/cli-versions.txt (npm registry, cached in ${VF_CLI_CACHE:-$HOME/.cache/vaporforge-cli})"
  VF_REAL_CLI=$(scripts/install-cli.sh --tested)
  export VF_REAL_CLI
fi

echo "== pytest"
python -m pytest "$@"
