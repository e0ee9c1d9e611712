"""The HTTP API: ``gunicorn 'api:create_app()'``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from celery import Celery
from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from api import (
    bodies,
    errors,
    health,
    limits,
    metrics,
    modes,
    outcomes,
    refresh,
    revocations,
    sessions,
    tickets,
    web,
)
from api.context import EXTENSION, ApiContext
from vaporforge import connections, defaults, logs
from vaporforge.access import PROTECTED_MODE_WARNING
from vaporforge.events import sink_for
from vaporforge.session.store import SessionStore
from vaporforge.settings import Settings
from vaporforge.tickets import TicketStore

log = logging.getLogger("vaporforge.api")

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


BEARER_SCHEMES = {
    "sessionToken": "the session_token returned when the session was created",
    "hostKey": "a host key (VF_HOST_KEYS): the host app's backend only",
    "connectTicket": "a connect ticket minted by the host's backend (POST /api/auth/tickets)",
    "refreshGrant": "the refresh_grant the claim (or the last refresh) answered",
}
"""The bearer credentials the OpenAPI document names, by security scheme."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``test_config`` may hold a ``SETTINGS`` object and Flask config."""
    app = Flask(__name__, static_folder=None)  # api/static is served by api.web
    app.config.update(OPENAPI, MAX_CONTENT_LENGTH=defaults.MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    settings: Settings = app.config.get("SETTINGS") or Settings.for_process(os.environ)
    client = connections.store_client(settings)
    tasks = Celery("vaporforge-api")
    # A bounded publish: with the broker down, a creation answers 503 within seconds.
    tasks.conf.update(connections.celery_broker(settings),
                      task_default_queue=defaults.LOGIN_QUEUE,
                      broker_connection_retry_on_startup=True, task_serializer="json",
                      task_publish_retry_policy={"max_retries": 2, "interval_start": 0,
                                                 "interval_step": 0.5, "interval_max": 0.5})
    events = sink_for(settings.hosts, tasks.send_task)
    app.extensions[EXTENSION] = ApiContext(
        settings, SessionStore(client, settings.key_prefix, events=events), tasks,
        TicketStore(client, settings.key_prefix), events)

    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    api = errors.Api(app)
    for name, description in BEARER_SCHEMES.items():
        api.spec.components.security_scheme(name, {"type": "http", "scheme": "bearer",
                                                   "description": description})
    errors.register(app)
    app.before_request(bodies.require_json_body)
    app.after_request(_security_headers)
    outcomes.install(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(sessions.blp)
    api.register_blueprint(refresh.blp)
    api.register_blueprint(tickets.blp)
    api.register_blueprint(revocations.blp)
    revocations.install(app, app.extensions[EXTENSION])
    api.register_blueprint(modes.blp)
    app.register_blueprint(web.blp)
    app.register_blueprint(metrics.blp)
    limits.install(app, settings)
    if settings.allowed_origins:
        CORS(app, resources={r"/api/*": {"origins": list(settings.allowed_origins)}},
             methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
             expose_headers=["Retry-After", "Location"], max_age=600)
    logs.configure(settings.log_format)
    modes.announce(settings)
    if not settings.host_keys:
        log.warning(PROTECTED_MODE_WARNING)
    return app


def _security_headers(response: Response) -> Response:
    if request.path.startswith("/api/auth/"):  # unless the route says (/api/auth/modes)
        response.headers.setdefault("Cache-Control", "no-store")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
