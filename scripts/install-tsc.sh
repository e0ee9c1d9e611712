#!/usr/bin/env bash
# Install the TypeScript compiler at the pinned version, for the test that
# checks the README's host-app example against api/static/vaporforge-connect.d.ts.
#
#   install-tsc.sh   -> prints the path of the tsc executable on stdout
#
# Cached in ${VF_TSC_CACHE:-~/.cache/vaporforge-tsc}/VERSION. Idempotent: exits
# at once when that prefix already holds a tsc of the pinned version. Installs
# into a temporary sibling and renames it into place, under a lock, so a
# half-finished install never looks finished.
set -euo pipefail

VERSION=5.9.3  # the npm registry's typescript; pinned, raised by hand
PREFIX="${VF_TSC_CACHE:-$HOME/.cache/vaporforge-tsc}/$VERSION"
TSC="$PREFIX/node_modules/.bin/tsc"

check() {  # check DIR -> 0 if DIR's tsc reports $VERSION
  [[ "$("$1/node_modules/.bin/tsc" --version 2>/dev/null)" == "Version $VERSION" ]]
}

if ! check "$PREFIX"; then
  mkdir -p -- "$(dirname -- "$PREFIX")"
  exec 9>"$PREFIX.lock"
  flock 9
  if ! check "$PREFIX"; then
    TMP="$(mktemp -d "$PREFIX.tmp.XXXXXX")"
    trap 'rm -rf -- "$TMP"' EXIT
    npm install --prefix "$TMP" --no-audit --no-fund --no-save --loglevel=error \
      "typescript@$VERSION" >&2
    check "$TMP" || { echo "install-tsc.sh: $TMP has no tsc $VERSION" >&2; exit 1; }
    rm -rf -- "$PREFIX"
    mv -- "$TMP" "$PREFIX"
    trap - EXIT
  fi
fi
echo "$TSC"
