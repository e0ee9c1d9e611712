# Stand-in for redis:7-bookworm where no registry is reachable: Debian bookworm's
# redis-server (7.0) running as the redis user. Built by
# `scripts/docker-engine.sh compose-bases` from the debootstrap base.
ARG BASE_IMAGE=vaporforge/base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
# Like the official image: no protected mode, so other containers may connect.
CMD ["redis-server", "--protected-mode", "no"]
