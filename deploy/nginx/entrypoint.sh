#!/bin/sh
# Starts nginx in the mode the mounted files call for:
# - /run/vaporforge/tls/cert.pem and key.pem non-empty (VF_TLS_CERT, VF_TLS_KEY):
#   https on 8443, http on 8080 redirecting to https on VF_HTTPS_PORT (the host's port);
# - otherwise (compose mounts /dev/null there): http only on 8080.
# The configuration files are read-only; the two lines that depend on the
# environment are written to /tmp/nginx (a tmpfs), with nginx's temporary files.
set -eu
say() { printf 'vaporforge-edge: %s\n' "$*" >&2; }
conf=/etc/vaporforge/edge
cert=/run/vaporforge/tls/cert.pem
key=/run/vaporforge/tls/key.pem
mkdir -p /tmp/nginx

# VF_API_PORT published gunicorn itself before the edge; the edge's port is
# VF_HTTP_PORT now. Refuse rather than silently publish another port than asked.
if [ -n "${VF_API_PORT:-}" ] && [ "${VF_API_PORT}" != "${VF_HTTP_PORT:-}" ]; then
    say "VF_API_PORT=$VF_API_PORT is now VF_HTTP_PORT: the edge publishes the API's port" \
        "(set VF_HTTP_PORT=$VF_API_PORT, or both to the same value)"
    exit 2
fi

# Published beyond this machine without host keys, anyone who reaches the edge
# could start logins and use the refresh relay: protected mode trusts private
# addresses, and behind Docker's userland proxy or a load balancer that hides the
# client every caller has one. Refuse, unless the operator says only a private
# network reaches it (VF_OPEN_NETWORK=private).
bind=${VF_BIND_ADDRESS:-127.0.0.1}
case ${VF_OPEN_NETWORK:-} in
    ''|private) ;;
    *) say "VF_OPEN_NETWORK must be empty or 'private', got '$VF_OPEN_NETWORK'"; exit 2 ;;
esac
case $bind in
    127.*|::1|'[::1]'|localhost) ;;
    *)
        if [ -z "${VF_HOST_KEYS:-}" ] && [ "${VF_OPEN_NETWORK:-}" != private ]; then
            say "refusing to start: VF_BIND_ADDRESS=$bind publishes the broker beyond this" \
                "machine and VF_HOST_KEYS is empty, so anyone who reaches it could start" \
                "logins and use the refresh relay. Set VF_HOST_KEYS (python -m" \
                "vaporforge.hostkeys new NAME), or VF_OPEN_NETWORK=private if only a private" \
                "network you trust reaches this port, or VF_BIND_ADDRESS=127.0.0.1" \
                "(docs/OPERATIONS.md, \"Who may reach the broker\")"
            exit 2
        fi
        [ -n "${VF_HOST_KEYS:-}" ] || say "VF_OPEN_NETWORK=private: serving $bind without" \
            "host keys; every client that reaches it may start logins"
        ;;
esac

if [ -s "$cert" ] || [ -s "$key" ]; then
    for f in "$cert" "$key"; do
        [ -s "$f" ] || { say "VF_TLS_CERT and VF_TLS_KEY go together; $f is missing"; exit 2; }
        [ -r "$f" ] || { say "$f is not readable by uid $(id -u) (www-data): chgrp 33 and chmod 640 it"; exit 2; }
    done
    port=${VF_HTTPS_PORT:-8443}
    case $port in ''|*[!0-9]*) say "VF_HTTPS_PORT must be a port number, got '$port'"; exit 2 ;; esac
    suffix=":$port"
    [ "$port" = 443 ] && suffix=""
    printf 'return 308 https://$host%s$request_uri;\n' "$suffix" >/tmp/nginx/redirect.conf
    say "https on ${port} (container 8443), http redirects to it"
    main=$conf/https.conf
else
    say "no VF_TLS_CERT/VF_TLS_KEY: http only (the page then works on localhost only)"
    main=$conf/http.conf
fi
# -e stderr: never try Debian's /var/log/nginx/error.log (read-only, not ours).
exec nginx -e stderr -c "$main" -g 'daemon off;'
