#!/usr/bin/env bash
# Run a command in a private mount+network namespace in which the Anthropic sign-in
# hosts resolve to 127.0.0.1 and tests/support/fake_oauth/ answers on 127.0.0.1:443.
#
#   tests/netns_run.sh [--certdir DIR] [--log FILE] [--strict] [--hosts "h1 h2 ..."] [--] CMD [ARG...]
#
# Inside the namespace only the loopback interface exists, so nothing can reach any
# outside host; /etc/hosts and /etc/resolv.conf are bind-mounted over (only inside the
# namespace) with: the hosts below -> 127.0.0.1, and nameserver 127.0.0.1 (any other
# name fails at once with ECONNREFUSED/ENOTFOUND).
#
# CMD runs with these extra variables:
#   NODE_EXTRA_CA_CERTS=$certdir/ca.pem   the real claude CLI trusts the fake server through it
#   FAKE_OAUTH_CA=$certdir/ca.pem  FAKE_OAUTH_LOG=<log file>  FAKE_OAUTH_URL=https://127.0.0.1:443
# Then, unmodified, `claude auth login` / `auth login --console` / `setup-token` talk to
# the fake server (token exchange at platform.claude.com, the rest at api.anthropic.com).
# Setting CLAUDE_CODE_CUSTOM_OAUTH_URL=https://claude.fedstart.com works too.
# Add CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 to drop the CLI's telemetry requests.
#
# Exit status: CMD's. Needs root (CI runs as root) or unprivileged user namespaces
# (then it adds --map-root-user). Needs util-linux `unshare`, and iproute2 `ip`
# (falls back to a python ioctl to bring lo up).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
CERTDIR=""
LOG=""
STRICT=""
HOSTS="claude.fedstart.com claude-staging.fedstart.com platform.claude.com api.anthropic.com claude.ai claude.com console.anthropic.com"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --certdir) CERTDIR="$2"; shift 2 ;;
    --log) LOG="$2"; shift 2 ;;
    --strict) STRICT="--strict"; shift ;;
    --hosts) HOSTS="$2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "netns_run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "usage: netns_run.sh [--certdir DIR] [--log FILE] [--strict] [--hosts 'h ...'] [--] CMD [ARG...]" >&2; exit 2; }

if [[ "${_NETNS_RUN_INSIDE:-}" != 1 ]]; then
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/netns-run.XXXXXX")"
  [[ -n "$CERTDIR" ]] || CERTDIR="$WORK/certs"
  [[ -n "$LOG" ]] || LOG="$WORK/fake-oauth.jsonl"
  mkdir -p "$CERTDIR"
  CERTDIR="$(cd "$CERTDIR" && pwd)"
  case "$LOG" in /*) ;; *) LOG="$PWD/$LOG" ;; esac
  extra=()
  [[ "$(id -u)" == 0 ]] || extra=(--map-root-user)
  set +e
  _NETNS_RUN_INSIDE=1 _NETNS_WORK="$WORK" \
    unshare "${extra[@]}" --mount --net --fork --propagation private -- \
    "$BASH" "${BASH_SOURCE[0]}" --certdir "$CERTDIR" --log "$LOG" ${STRICT:+"$STRICT"} --hosts "$HOSTS" -- "$@"
  rc=$?
  set -e
  rm -rf -- "$WORK"   # default certs/log live here; pass --certdir/--log to keep them
  exit $rc
fi

# ---- inside the namespace
WORK="$_NETNS_WORK"
unset _NETNS_RUN_INSIDE _NETNS_WORK
if command -v ip >/dev/null 2>&1; then
  ip link set lo up
else
  "$PYTHON" - <<'EOF'
import fcntl, socket, struct
s = socket.socket(); ifr = struct.pack("16sH", b"lo", 0)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, ifr))[1]          # SIOCGIFFLAGS
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))        # SIOCSIFFLAGS |= IFF_UP
EOF
fi
{ echo "127.0.0.1 localhost"; echo "::1 localhost ip6-localhost ip6-loopback";
  echo "127.0.0.1 $HOSTS"; } > "$WORK/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$WORK/resolv.conf"
mount --bind "$WORK/hosts" /etc/hosts
# /etc/resolv.conf may be a symlink (systemd-resolved); bind over its target.
mount --bind "$WORK/resolv.conf" "$(readlink -f /etc/resolv.conf)"

# shellcheck disable=SC2086
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m tests.support.fake_oauth --host 127.0.0.1 --port 443 --certdir "$CERTDIR" \
  --log "$LOG" --hosts "$HOSTS localhost" --quiet $STRICT > "$WORK/server.out" 2>&1 &
SRV=$!
cleanup() { kill "$SRV" 2>/dev/null || true; wait "$SRV" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  grep -q "listening" "$WORK/server.out" 2>/dev/null && break
  if ! kill -0 "$SRV" 2>/dev/null; then
    echo "netns_run.sh: the fake sign-in service did not start:" >&2; cat "$WORK/server.out" >&2; exit 1
  fi
  sleep 0.05
done
grep -q "listening" "$WORK/server.out" || { echo "netns_run.sh: fake server not ready" >&2; cat "$WORK/server.out" >&2; exit 1; }

export NODE_EXTRA_CA_CERTS="$CERTDIR/ca.pem" FAKE_OAUTH_CA="$CERTDIR/ca.pem" \
  FAKE_OAUTH_LOG="$LOG" FAKE_OAUTH_URL="https://127.0.0.1:443"
set +e
"$@"
rc=$?
set -e
exit $rc
