#!/usr/bin/env bash
# A private Docker engine for VaporForge's login-container tests and development.
#
#   scripts/docker-engine.sh start       start dockerd (no-op if ours is up); prints
#                                        `export DOCKER_HOST=... VF_DOCKER_STARTED=1|0`
#                                        (use: eval "$(... start)"; 0: it was already up).
#                                        With Debian's runsc installed, it is runtime
#                                        `runsc` (gVisor) there, see below
#   scripts/docker-engine.sh stop        stop the dockerd that `start` started (by its pidfile)
#   scripts/docker-engine.sh status      exit 0 if ours is up
#   scripts/docker-engine.sh env         print the export line only
#   scripts/docker-engine.sh base-image  make vaporforge/base:bookworm with debootstrap (cached)
#   scripts/docker-engine.sh build       build vaporforge/login:<pin>, :latest and
#                                        vaporforge/login-test:latest
#   scripts/docker-engine.sh login-context DIR
#                                        stage the login image's build context in DIR (what
#                                        `build` uses: with build-ca.pem and the simulator)
#   scripts/docker-engine.sh compose-bases
#                                        build stand-ins for the registry images that
#                                        docker-compose.yml starts from (from the debootstrap
#                                        base, see scripts/local-bases/); prints
#                                        `export VF_PYTHON_IMAGE=... VF_REDIS_IMAGE=...
#                                        VF_DEBIAN_IMAGE=... (the edge's base)
#                                        VF_LOGIN_BASE_IMAGE=... VF_LOGIN_CONTEXT=...` for
#                                        `docker compose up --build` (eval it)
#
# State (images, containers, cached rootfs, log) lives under
# ${VF_DOCKER_STATE:-/var/tmp/vaporforge-docker}; keep that path short (unix sockets).
# The daemon runs with --iptables=false --bridge=none: containers get network
# "none" or "host" only (a container asking for "bridge" gets loopback only), and
# nothing on the host's firewall changes.
# The daemon reads $STATE/daemon.json (written at each start; never /etc/docker/):
# when runsc is installed (Debian's package `runsc`, or VF_RUNSC), it registers it as
# runtime "runsc" with `--network=none` (gVisor's own network stack has nothing to
# use without a bridge): `docker run --runtime runsc --network none ...`, or
# VF_DOCKER_RUNTIME=runsc for login containers. If ours is already up without it,
# start adds it with a reload (SIGHUP), as long as that daemon reads $STATE/daemon.json.
# base-image and build talk to $DOCKER_HOST when it is set, else to the private
# engine (which must be started first). Every subcommand is safe to rerun.
#
# Environment: VF_DOCKER_STATE, VF_RUNSC (default: runsc on PATH; `none`: do not
# register it), VF_BASE_IMAGE (default vaporforge/base:bookworm; any
# Debian-like image already in the engine, e.g. node:22-bookworm-slim), VF_CLI_SIMULATOR
# (default tests/support/cli_simulator.py), VF_DEBIAN_MIRROR (default: from /etc/apt/sources.list*),
# VF_BUILD_CA_FILE (CA bundle for npm and pip at build time; default $NODE_EXTRA_CA_CERTS
# or npm's cafile for npm, used in the login image's install stage only; $PIP_CERT or
# pip's cert for pip, kept in the python stand-in image for pip only).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${VF_DOCKER_STATE:-/var/tmp/vaporforge-docker}
SOCK=$STATE/docker.sock
PIDFILE=$STATE/docker.pid
LOG=$STATE/dockerd.log
CONFIG=$STATE/daemon.json
OWN_HOST=unix://$SOCK
BASE_TAG=vaporforge/base:bookworm
BASE_IMAGE=${VF_BASE_IMAGE:-$BASE_TAG}
BASE_TAR=$STATE/cache/debian-bookworm-minbase-slim.tar
SIMULATOR=${VF_CLI_SIMULATOR:-$ROOT/tests/support/cli_simulator.py}
PYTHON_TAG=vaporforge/python:3.11-bookworm
REDIS_TAG=vaporforge/redis:7-bookworm

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

cli_version() {
    local v
    v=$(tr -d '[:space:]' <"$ROOT/CLAUDE_CODE_VERSION")
    [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "bad version in CLAUDE_CODE_VERSION: '$v'"
    printf '%s' "$v"
}

need_packages() {  # need_packages CMD:PACKAGE...
    local want=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${want[*]}; install them as root"
    say "installing ${want[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
}

live_pid() {  # live_pid PIDFILE COMM: print the pid if that process runs, else fail
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    # a zombie still answers kill -0: look at its state
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
    printf '%s' "$pid"
}

our_pid() { live_pid "$PIDFILE" dockerd; }

engine_up() { DOCKER_HOST=${1:-$OWN_HOST} docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

runsc_path() {  # the runsc to register, or nothing
    local path=${VF_RUNSC:-$(command -v runsc || true)}
    [ "$path" = none ] && return 0
    [ -z "$path" ] || [ -x "$path" ] || die "VF_RUNSC=$path is not an executable"
    printf '%s' "$path"
}

write_config() {  # $CONFIG: the runtimes beside runc (only runsc, when installed)
    local runsc
    runsc=$(runsc_path)
    if [ -n "$runsc" ]; then
        # --network=none: on this engine (--bridge=none) a container has no network to
        # hand to gVisor's netstack; a networked host uses --network=sandbox instead
        # (docs/OPERATIONS.md).
        printf '{\n  "runtimes": {\n    "runsc": {\n      "path": "%s",\n      "runtimeArgs": ["--network=none"]\n    }\n  }\n}\n' \
            "$runsc" >"$CONFIG.tmp"
    else
        printf '{}\n' >"$CONFIG.tmp"
    fi
    mv "$CONFIG.tmp" "$CONFIG"
}

has_runsc() { docker -H "$OWN_HOST" info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

add_runsc() {  # ours is up: make runsc known to it when it is installed but missing
    local pid=$1 runsc
    runsc=$(runsc_path)
    if [ -z "$runsc" ] || has_runsc; then return 0; fi
    if ! tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx -- "--config-file"; then
        say "warning: runsc is installed but dockerd $pid was started without $CONFIG;" \
            "to register it: $0 stop && $0 start"
        return 0
    fi
    write_config
    kill -HUP "$pid"  # dockerd reloads its runtimes from the config file
    for _ in $(seq 1 50); do has_runsc && break; sleep 0.1; done
    if has_runsc; then say "registered runsc in dockerd $pid"
    else say "warning: dockerd $pid did not take runsc; see $LOG"; fi
}

cmd_start() {
    need_packages dockerd:docker.io docker:docker.io
    if our_pid >/dev/null && engine_up; then
        add_runsc "$(our_pid)"
        echo "export DOCKER_HOST=$OWN_HOST VF_DOCKER_STARTED=0"
        return 0
    fi
    if pid=$(our_pid); then
        die "dockerd $pid runs but does not answer on $SOCK; see $LOG, or run: $0 stop"
    fi
    mkdir -p "$STATE/data" "$STATE/exec" "$STATE/cache"
    rm -f "$PIDFILE" "$SOCK"
    # After a crash, dockerd's containerd may be left as a zombie whose pidfile
    # makes the next dockerd wait for it in vain: forget a containerd that is gone.
    live_pid "$STATE/exec/containerd/containerd.pid" containerd >/dev/null \
        || rm -f "$STATE/exec/containerd/containerd.pid"
    local t0=$SECONDS
    write_config
    # setsid + nohup: the daemon outlives this script and the caller's terminal.
    setsid nohup dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
        --config-file "$CONFIG" --data-root "$STATE/data" --exec-root "$STATE/exec" \
        -H "$OWN_HOST" --pidfile "$PIDFILE" </dev/null >>"$LOG" 2>&1 &
    for _ in $(seq 1 300); do
        engine_up && break
        kill -0 $! 2>/dev/null || die "dockerd exited; last lines of $LOG:
$(tail -n 3 "$LOG")"
        sleep 0.1
    done
    engine_up || die "dockerd did not answer within 30 s; see $LOG"
    say "dockerd $(cat "$PIDFILE") up on $SOCK in $((SECONDS - t0)) s$(has_runsc && echo ', with runtime runsc')"
    echo "export DOCKER_HOST=$OWN_HOST VF_DOCKER_STARTED=1"
}

cmd_stop() {
    local pid
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        unmount_under "$STATE"
        say "not running"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 300); do  # dockerd stops its containers first (up to ~15 s)
        our_pid >/dev/null || break
        sleep 0.1
    done
    if our_pid >/dev/null; then
        say "dockerd $pid ignored SIGTERM for 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$PIDFILE" "$SOCK"
    # dockerd leaves mounts behind (exec/netns/default, data); drop them so that the
    # state dir can be deleted with rm -rf.
    unmount_under "$STATE"
    say "stopped dockerd $pid"
}

cmd_status() {
    if our_pid >/dev/null && engine_up; then
        say "up: pid $(cat "$PIDFILE"), DOCKER_HOST=$OWN_HOST"
    else
        say "down"
        return 1
    fi
}

use_engine() {  # point docker at $DOCKER_HOST or at ours; it must answer
    export DOCKER_HOST=${DOCKER_HOST:-$OWN_HOST}
    engine_up "$DOCKER_HOST" || die "no Docker engine answers at $DOCKER_HOST; run: eval \"\$($0 start)\""
}

debian_sources() {  # deb lines for bookworm{,-updates,-security} from the host's apt config
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && awk '$1 == "deb" { sub(/^deb +(\[[^]]*\] +)?/, ""); print }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; FS = "\n" }
        {
            types = uris = suites = comps = ""
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^Types:/) types = substr($i, 7)
                if ($i ~ /^URIs:/) uris = substr($i, 6)
                if ($i ~ /^Suites:/) suites = substr($i, 8)
                if ($i ~ /^Components:/) comps = substr($i, 12)
            }
            if (types !~ /(^| )deb( |$)/) next
            nu = split(uris, u, " "); ns = split(suites, s, " ")
            for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++) print u[a], s[b], comps
        }' "$f"
    done
}

bookworm_sources() {
    debian_sources | awk '$2 ~ /^bookworm(-updates|-security|\/updates)?$/ { $1 = $1; print "deb " $0 }' | sort -u
}

unmount_under() {  # lazily unmount everything mounted below $1
    local m
    awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

cleanup_rootfs() {  # unmount anything debootstrap left mounted, then delete
    case $1 in "$STATE"/cache/rootfs.?*) ;; *) die "cleanup_rootfs: refusing '$1'" ;; esac
    [ -d "$1" ] || return 0
    unmount_under "$1"
    rm -rf --one-file-system "$1"
}

slim_rootfs() {  # like Debian's -slim images: no docs, man pages or translations
    local root=$1
    case $root in  # only ever a rootfs that cmd_base_image made
        "$STATE"/cache/rootfs.?*) [ -d "$root/usr/share/doc" ] || die "no rootfs at $root" ;;
        *) die "slim_rootfs: refusing '$root'" ;;
    esac
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/lintian/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        >"$root/etc/dpkg/dpkg.cfg.d/vaporforge-slim"
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* \
        "$root"/usr/share/lintian/*
}

cmd_base_image() {
    use_engine
    if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
        say "$BASE_TAG present"
        return 0
    fi
    if [ ! -s "$BASE_TAR" ]; then
        need_packages debootstrap:debootstrap
        local mirror rootfs t0=$SECONDS
        mirror=${VF_DEBIAN_MIRROR:-$(bookworm_sources | awk '$3 == "bookworm" { print $2; exit }')}
        mirror=${mirror:-http://deb.debian.org/debian}
        mkdir -p "$STATE/cache"
        rootfs=$(mktemp -d "$STATE/cache/rootfs.XXXXXX")
        trap 'cleanup_rootfs "'"$rootfs"'"' EXIT
        say "debootstrap --variant=minbase bookworm from $mirror (about a minute)"
        debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
            || die "debootstrap failed; see $STATE/debootstrap.log"
        slim_rootfs "$rootfs"
        # apt inside the image uses the host's Debian mirrors (main, updates, security).
        bookworm_sources >"$rootfs/etc/apt/sources.list"
        [ -s "$rootfs/etc/apt/sources.list" ] || echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
        rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
            "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* \
            "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
        tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.tmp" .
        mv "$BASE_TAR.tmp" "$BASE_TAR"
        cleanup_rootfs "$rootfs"
        trap - EXIT
        say "rootfs cached in $BASE_TAR after $((SECONDS - t0)) s"
    fi
    docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
        --message "debootstrap --variant=minbase bookworm" "$BASE_TAR" "$BASE_TAG" >/dev/null
    say "imported $BASE_TAG"
}

copy_ca() {  # copy_ca FILE DEST: copy a CA bundle if FILE names a non-empty file
    if [ -n "$1" ] && [ "$1" != null ] && [ -s "$1" ]; then
        cp "$1" "$2"
    fi
}

stage_login_context() {  # stage_login_context DIR
    # A staged copy of container-image/ (a few KB, never the repo): plus
    # build-ca.pem when the host reaches the npm registry through a
    # TLS-inspecting proxy, plus the CLI simulator for the test target.
    local ctx=$1
    rm -rf "$ctx"
    mkdir -p "$ctx"
    cp "$ROOT/container-image/Dockerfile" "$ROOT/container-image/entrypoint.sh" \
        "$ROOT/container-image/.dockerignore" "$ctx/"
    copy_ca "${VF_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}}" \
        "$ctx/build-ca.pem"
    [ -f "$SIMULATOR" ] && cp "$SIMULATOR" "$ctx/cli_simulator.py"
    return 0
}

pip_setting() {  # pip_setting NAME: this machine's pip setting global.NAME, or nothing
    python3 -m pip config get "global.$1" 2>/dev/null || true
}

cmd_compose_bases() {
    use_engine
    local ctx url t0=$SECONDS
    if [ "$BASE_IMAGE" = "$BASE_TAG" ]; then
        cmd_base_image
    fi
    ctx=$(mktemp -d "$STATE/compose-bases.XXXXXX")
    trap 'rm -rf "'"$ctx"'"' EXIT
    # pip in the python stand-in: this machine's index (http(s) ones only: a local
    # file:// index does not exist inside a build) and the CA bundle its pip trusts.
    local index extra
    index=${PIP_INDEX_URL:-$(pip_setting index-url)}
    extra=$(printf '%s\n' ${PIP_EXTRA_INDEX_URL:-$(pip_setting extra-index-url)} | grep '^http' || true)
    {
        echo "[global]"
        if [[ $index == http* ]]; then echo "index-url = $index"; fi
        if [ -n "$extra" ]; then echo "extra-index-url = $(echo $extra)"; fi
    } >"$ctx/pip.conf"
    copy_ca "${VF_BUILD_CA_FILE:-${PIP_CERT:-$(pip_setting cert)}}" "$ctx/build-ca.pem"
    say "building $PYTHON_TAG and $REDIS_TAG on $BASE_IMAGE"
    docker build -q --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "$ROOT/scripts/local-bases/python.Dockerfile" -t "$PYTHON_TAG" "$ctx" >/dev/null
    docker build -q --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "$ROOT/scripts/local-bases/redis.Dockerfile" -t "$REDIS_TAG" "$ctx" >/dev/null
    rm -rf "$ctx"
    trap - EXIT
    # The login image's context with this machine's CA bundle for npm (see cmd_build).
    stage_login_context "$STATE/login-context"
    say "compose bases ready in $((SECONDS - t0)) s"
    echo "export VF_PYTHON_IMAGE=$PYTHON_TAG VF_REDIS_IMAGE=$REDIS_TAG VF_DEBIAN_IMAGE=$BASE_IMAGE" \
        "VF_LOGIN_BASE_IMAGE=$BASE_IMAGE VF_LOGIN_CONTEXT=$STATE/login-context"
}

cmd_build() {
    use_engine
    local version ctx t0=$SECONDS
    version=$(cli_version)
    if [ "$BASE_IMAGE" = "$BASE_TAG" ]; then
        cmd_base_image
    fi
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE is not in the engine"
    ctx=$STATE/context
    stage_login_context "$ctx"
    local common=(--network host --build-arg "BASE_IMAGE=$BASE_IMAGE"
        --build-arg "CLAUDE_CODE_VERSION=$version" -f "$ROOT/container-image/Dockerfile")
    say "building vaporforge/login:$version on $BASE_IMAGE"
    docker build -q "${common[@]}" --target login \
        -t "vaporforge/login:$version" -t vaporforge/login:latest "$ctx" >/dev/null
    local got
    got=$(docker run --rm --network none "vaporforge/login:$version" claude --version)
    [ "${got%% *}" = "$version" ] || die "claude --version in the image says '$got', not $version"
    say "vaporforge/login:$version ready ($got)"

    if [ -f "$SIMULATOR" ]; then
        docker build -q "${common[@]}" --target login-test -t vaporforge/login-test:latest "$ctx" >/dev/null
        say "vaporforge/login-test:latest ready"
    else
        say "warning: $SIMULATOR not found; vaporforge/login-test:latest not built"
        # never leave a test image with another simulator in it
        docker rmi vaporforge/login-test:latest >/dev/null 2>&1 || true
    fi
    rm -rf "$ctx"
    say "build took $((SECONDS - t0)) s"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) echo "export DOCKER_HOST=$OWN_HOST" ;;
    base-image) cmd_base_image ;;
    build) cmd_build ;;
    login-context) [ -n "${2:-}" ] || die "usage: $0 login-context DIR"; stage_login_context "$2" ;;
    compose-bases) cmd_compose_bases ;;
    *) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2 ;;
esac
