"""The HTTP API: ``gunicorn 'api:create_app()'``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from flask import Flask, Response, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from api import errors, health, refresh, sessions, web
from api.context import EXTENSION, ApiContext
from vaporforge import defaults
from vaporforge.redact import install_redaction
from vaporforge.settings import Settings
from vaporforge.store import SessionStore

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
OPENAPI = {
    "API_TITLE": "VaporForge login broker",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``test_config`` may hold a ``SETTINGS`` object and Flask config."""
    app = Flask(__name__, static_folder=None)  # api/static is served by api.web
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

    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    api = errors.Api(app)
    api.spec.components.security_scheme("sessionToken", {
        "type": "http", "scheme": "bearer",
        "description": "the session_token returned when the session was created"})
    errors.register(app)
    app.before_request(sessions.require_json_body)
    app.after_request(_security_headers)
    api.register_blueprint(health.blp)
    api.register_blueprint(sessions.blp)
    api.register_blueprint(refresh.blp)
    app.register_blueprint(web.blp)
    _limit(app, settings)
    if settings.allowed_origins:
        CORS(app, resources={r"/api/*": {"origins": list(settings.allowed_origins)}},
             methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
             expose_headers=["Retry-After", "Location"], max_age=600)
    logging.basicConfig(level=logging.INFO)
    install_redaction()
    return app


def _limit(app: Flask, settings: Settings) -> None:
    """Rate limits in Redis: creations and refreshes per client address, polls per session."""
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.redis_url,
                      headers_enabled=True, key_prefix=f"{settings.key_prefix}:limit",
                      strategy="fixed-window")
    views = app.view_functions
    views["sessions.Sessions"] = limiter.limit(settings.create_rate, methods=["POST"])(
        views["sessions.Sessions"])
    views["sessions.Session"] = limiter.limit(
        settings.poll_rate, methods=["GET"],
        key_func=lambda: f"poll:{(request.view_args or {}).get('session_id', '')}")(
        views["sessions.Session"])
    views["refresh.Refresh"] = limiter.limit(settings.refresh_rate, methods=["POST"])(
        views["refresh.Refresh"])
    app.extensions["vaporforge_limiter"] = limiter


def _security_headers(response: Response) -> Response:
    if request.path.startswith("/api/auth/"):
        response.headers["Cache-Control"] = "no-store"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
