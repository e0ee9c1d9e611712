#!/usr/bin/env bash
# Installs the browser the browser tests drive: Debian's own `chromium` package
# (never a downloaded build; Playwright is pointed at it with executable_path)
# and fonts, so screenshots render text. Does nothing when both are present.
# Prints the chromium path on its last line.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Screenshots need real glyphs (Latin, and the ✓/✗ marks the page uses).
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
[[ -d /usr/share/fonts/truetype/liberation ]] || missing+=(fonts-liberation)

if ((${#missing[@]})); then
  echo "== installing Debian packages: ${missing[*]}" >&2
  if [[ $(id -u) != 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

command -v chromium
