# The broker's own image (API and worker): `docker compose up --build` builds it.
# The login image the worker starts per session is container-image/.
# PYTHON_IMAGE: where no registry is reachable, a stand-in made from a Debian base
# (scripts/docker-engine.sh compose-bases: vaporforge/python:3.11-bookworm).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 VF_REQUIRE_CLIENT_KEY=true
WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY vaporforge ./vaporforge
COPY api ./api
COPY worker ./worker
# gunicorn's master reads it from /app: a bad setting stops it before any worker.
COPY gunicorn.conf.py ./
# The Docker socket proxy (docker-compose.yml, service docker-proxy).
COPY deploy/socket-proxy ./deploy/socket-proxy
RUN useradd --uid 10002 --no-create-home --shell /usr/sbin/nologin broker
USER broker
EXPOSE 8000
# Workers and threads as measured best for the poll path (BENCHMARKS.md, figure 3).
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--no-control-socket", "api:create_app()"]
