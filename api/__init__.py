"""The HTTP API: ``gunicorn 'api:create_app()'``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from flask import Flask, Response, request

from api import errors, health, sessions
from api.context import EXTENSION, ApiContext
from vaporforge import defaults
from vaporforge.redact import install_redaction
from vaporforge.settings import Settings
from vaporforge.store import SessionStore

OPENAPI = {
    "API_TITLE": "VaporForge login broker",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``test_config`` may hold a ``SETTINGS`` object and Flask config."""
    app = Flask(__name__)
    app.config.update(OPENAPI, MAX_CONTENT_LENGTH=defaults.MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    settings: Settings = app.config.get("SETTINGS") or Settings.from_env(os.environ)
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  health_check_interval=30)
    tasks = Celery("vaporforge-api", broker=settings.broker_url)
    tasks.conf.update(task_default_queue=defaults.LOGIN_QUEUE,
                      broker_connection_retry_on_startup=True, task_serializer="json")
    app.extensions[EXTENSION] = ApiContext(settings, SessionStore(client, settings.key_prefix),
                                           tasks)

    api = errors.Api(app)
    errors.register(app)
    app.before_request(sessions.require_json_body)
    app.after_request(_no_store)
    api.register_blueprint(health.blp)
    api.register_blueprint(sessions.blp)
    logging.basicConfig(level=logging.INFO)
    install_redaction()
    return app


def _no_store(response: Response) -> Response:
    if request.path.startswith("/api/auth/"):
        response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
