#!/usr/bin/env bash
# Drive any published Claude Code CLI release through the broker, to see drift
# before bumping the pin (CLAUDE_CODE_VERSION):
#
#   scripts/cli-drift.sh [VERSION|latest] [PYTEST ARGS...]      (make cli-drift VERSION=latest)
#
# Installs the release from the npm registry into ${VF_CLI_CACHE:-~/.cache/vaporforge-cli}/VERSION
# (scripts/install-cli.sh; cached), then runs the real-CLI tests (tests/test_real_cli*.py)
# against it alone on the local runtime, through the README's test command
# (scripts/test.sh). The CLI runs in network namespaces without internet.
# A failure names what the release does differently; a release that only rewords
# needs one row in vaporforge/cli_wording.py (see docs/CLI-FINDINGS.md, "A new release").
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${1:-latest}"
shift || true
if [[ "$VERSION" == latest ]]; then
  VERSION="$(npm view @anthropic-ai/claude-code version)"
fi
PREFIX="${VF_CLI_CACHE:-$HOME/.cache/vaporforge-cli}/$VERSION"
echo "== Claude Code CLI $VERSION (pin: $(tr -d '[:space:]' < CLAUDE_CODE_VERSION)), cached in $PREFIX"
scripts/install-cli.sh "$VERSION" "$PREFIX"

VF_DOCKER_TESTS=0 VF_REAL_CLI_TESTS=1 VF_REAL_CLI="$PREFIX/node_modules/.bin/claude" \
  exec bash scripts/test.sh -m realcli tests/test_real_cli_driver.py tests/test_real_cli.py \
  tests/test_real_cli_success.py "$@"
