#!/bin/sh
# Renders the configuration into /tmp/prometheus (a tmpfs; the root filesystem is
# read-only) and starts Prometheus on it:
# - VF_PROMETHEUS_INTERVAL (default 15s): scrape, rule evaluation and DNS refresh;
# - VF_METRICS_TOKEN: the Bearer token the API's /metrics and the workers' port
#   answer, written to a file only this user reads (never on the command line);
#   empty, the authorization lines are dropped.
# VF_PROMETHEUS_RETENTION (default 2d): how long samples are kept, in the tmpfs.
set -eu
say() { printf 'vaporforge-prometheus: %s\n' "$*" >&2; }
src=/etc/vaporforge/prometheus
run=/tmp/prometheus
interval=${VF_PROMETHEUS_INTERVAL:-15s}
case $interval in
    *[!0-9smh]*|'') say "VF_PROMETHEUS_INTERVAL must be a duration like 15s, got '$interval'"; exit 2 ;;
esac
umask 077
mkdir -p "$run/data"
if [ -n "${VF_METRICS_TOKEN:-}" ]; then
    printf '%s' "$VF_METRICS_TOKEN" > "$run/metrics-token"
    sed "s/@INTERVAL@/$interval/g" "$src/prometheus.yml" > "$run/prometheus.yml"
else
    sed -e '/# token$/d' -e "s/@INTERVAL@/$interval/g" "$src/prometheus.yml" \
        > "$run/prometheus.yml"
fi
unset VF_METRICS_TOKEN
exec /usr/bin/prometheus \
    --config.file="$run/prometheus.yml" \
    --storage.tsdb.path="$run/data" \
    --storage.tsdb.retention.time="${VF_PROMETHEUS_RETENTION:-2d}" \
    --web.listen-address=0.0.0.0:9090 \
    "$@"
