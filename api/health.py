"""Liveness and readiness."""

from __future__ import annotations

import redis
from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import api_context
from api.schemas import ErrorSchema, HealthSchema, ReadySchema
from vaporforge.errors import BrokerError

blp = Blueprint("health", __name__, description="Liveness and readiness")


class NotReady(BrokerError):
    code = "not_ready"
    status = 503
    message = "Redis does not answer."


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ErrorSchema)
    def get(self) -> dict[str, object]:
        """Redis answers; also the CLI version each runtime's workers reported."""
        store = api_context().store
        try:
            store.ping()
            versions = store.cli_versions()
            workers, capacity = store.worker_capacity()
            live = store.count_live()
        except redis.RedisError:
            raise NotReady() from None
        return {"status": "ready", "redis": "ok", "cli_versions": versions,
                "workers": workers, "capacity": capacity, "live_sessions": live}
