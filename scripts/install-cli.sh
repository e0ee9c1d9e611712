#!/usr/bin/env bash
# Install the official Claude Code CLI at an exact version into a prefix.
#
#   install-cli.sh VERSION PREFIX
#   e.g. install-cli.sh 2.1.332 /root/.cache/vaporforge-cli/2.1.332
#   install-cli.sh --tested
#     every release in tests/cli-versions.txt (the pin must be among them), each
#     into ${VF_CLI_CACHE:-~/.cache/vaporforge-cli}/VERSION; prints their
#     executables joined by ':' (what VF_REAL_CLI takes) on stdout.
#
# Result: PREFIX/node_modules/.bin/claude (the native ELF executable, linked
# from @anthropic-ai/claude-code-linux-x64[-musl] by the package's postinstall).
# Idempotent: exits 0 at once when PREFIX already holds a working CLI of that
# version. Installs into a temporary sibling directory and renames it into
# place, so a half-finished install never looks finished; concurrent callers
# serialise on a lock file (PREFIX.lock).
set -euo pipefail

if [[ "${1:-}" == --tested ]]; then
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  CACHE="${VF_CLI_CACHE:-$HOME/.cache/vaporforge-cli}"
  pin="$(tr -d '[:space:]' < "$ROOT/CLAUDE_CODE_VERSION")"
  mapfile -t versions < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$ROOT/tests/cli-versions.txt" | grep .)
  if ! printf '%s\n' "${versions[@]}" | grep -qxF "$pin"; then
    echo "install-cli.sh: the pin $pin is not in tests/cli-versions.txt" >&2
    exit 1
  fi
  paths=()
  for version in "${versions[@]}"; do
    "${BASH_SOURCE[0]}" "$version" "$CACHE/$version"
    paths+=("$CACHE/$version/node_modules/.bin/claude")
  done
  (IFS=:; echo "${paths[*]}")
  exit 0
fi

VERSION="${1:?usage: install-cli.sh VERSION PREFIX}"
PREFIX="${2:?usage: install-cli.sh VERSION PREFIX}"
PKG="@anthropic-ai/claude-code"

case "$VERSION" in
  *[!0-9A-Za-z.+-]*|"") echo "install-cli.sh: bad version '$VERSION'" >&2; exit 2 ;;
esac

check() {  # check DIR -> 0 if DIR/node_modules/.bin/claude reports $VERSION
  local out
  out="$("$1/node_modules/.bin/claude" --version 2>/dev/null)" || return 1
  [[ "$out" == "$VERSION "* || "$out" == "$VERSION" ]]
}

if check "$PREFIX"; then
  exit 0
fi

PARENT="$(dirname -- "$PREFIX")"
mkdir -p -- "$PARENT"
exec 9>"$PREFIX.lock"
flock 9
# Someone else may have finished while we waited for the lock.
if check "$PREFIX"; then
  exit 0
fi

TMP="$(mktemp -d "$PREFIX.tmp.XXXXXX")"
trap 'rm -rf -- "$TMP"' EXIT

start=$(date +%s)
# --foreground-scripts not needed; postinstall output is only shown on failure.
npm install --prefix "$TMP" --no-audit --no-fund --no-save --loglevel=error \
  "$PKG@$VERSION" >&2

if ! check "$TMP"; then
  # The postinstall did not place the native binary (scripts disabled by npm
  # config/allowScripts, or similar). Run it by hand; it hard-links/copies the
  # platform package's executable over bin/claude.exe.
  echo "install-cli.sh: native binary not in place; running install.cjs by hand" >&2
  (cd "$TMP/node_modules/$PKG" && node install.cjs) >&2 || true
fi
if ! check "$TMP"; then
  echo "install-cli.sh: $TMP/node_modules/.bin/claude --version does not report $VERSION" >&2
  "$TMP/node_modules/.bin/claude" --version >&2 || true
  exit 1
fi

# Replace any broken/old content at PREFIX atomically enough: move it aside.
if [[ -e "$PREFIX" ]]; then
  OLD="$(mktemp -d "$PREFIX.old.XXXXXX")"
  mv -- "$PREFIX" "$OLD/x"
  rm -rf -- "$OLD" &
fi
mv -- "$TMP" "$PREFIX"
trap - EXIT
echo "install-cli.sh: installed $PKG@$VERSION into $PREFIX in $(( $(date +%s) - start ))s" >&2
