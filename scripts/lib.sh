# Shared set-up steps of scripts/test.sh and scripts/dev.sh (source it from the
# repository root). Each step is idempotent and quick when already done.

# apt_install CMD:PACKAGE...: install the Debian packages whose command is missing.
apt_install() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  echo "== installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv VENV: a virtualenv with the locked packages and the project (editable);
# reinstalled only when a lock file or pyproject.toml changed.
ensure_venv() {
  local venv=$1 stamp
  if [[ ! -x $venv/bin/python ]]; then
    echo "== creating virtualenv $venv"
    python3 -m venv "$venv"
  fi
  stamp=$(cat requirements.lock requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
  if [[ $(cat "$venv/.locked" 2>/dev/null) != "$stamp" ]]; then
    echo "== installing locked packages and the project (editable)"
    "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.lock
    # With build isolation: a fresh venv's setuptools (65 on Python 3.11) cannot build
    # an editable wheel by itself (no bdist_wheel without the wheel package).
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e .
    echo "$stamp" > "$venv/.locked"
  fi
}

# ensure_cli: install the Claude Code CLI at the version in CLAUDE_CODE_VERSION from
# the npm registry into ${VF_CLI_CACHE:-~/.cache/vaporforge-cli}/<version> (once)
# and print the path of its executable.
ensure_cli() {
  local version prefix
  version=$(tr -d '[:space:]' < CLAUDE_CODE_VERSION)
  prefix=${VF_CLI_CACHE:-$HOME/.cache/vaporforge-cli}/$version
  echo "== the Claude Code CLI $version (npm registry, cached in $prefix)" >&2
  apt_install npm:npm >&2
  scripts/install-cli.sh "$version" "$prefix"
  printf '%s\n' "$prefix/node_modules/.bin/claude"
}
