# Stand-in for python:3.11-slim-bookworm where no registry is reachable: Debian
# bookworm's own Python 3.11 in a virtualenv at /usr/local/python, first on PATH, so
# that `python`, `pip` and what pip installs behave as in the official image.
# Built by `scripts/docker-engine.sh compose-bases` from the debootstrap base.
# pip.conf (this machine's package index, if it sets one) and build-ca.pem (optional;
# the CA bundle this machine's pip trusts, e.g. for a TLS-inspecting proxy) let
# `pip install` in images built on this one reach the index as this machine does;
# only pip reads them.
ARG BASE_IMAGE=vaporforge/base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /usr/local/python
COPY pip.conf build-ca.pe[m] /tmp/pip-settings/
RUN install -m 0644 /tmp/pip-settings/pip.conf /etc/pip.conf \
    && if [ -s /tmp/pip-settings/build-ca.pem ]; then \
        install -D -m 0644 /tmp/pip-settings/build-ca.pem /usr/local/share/vaporforge/pip-ca.pem \
        && printf 'cert = /usr/local/share/vaporforge/pip-ca.pem\n' >> /etc/pip.conf; fi \
    && rm -rf /tmp/pip-settings
ENV PATH=/usr/local/python/bin:$PATH LANG=C.UTF-8
CMD ["python3"]
