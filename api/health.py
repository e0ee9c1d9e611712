"""Liveness and readiness."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from api.context import api_context, operator_request
from api.schemas import ErrorSchema, HealthSchema, ReadySchema
from vaporforge.registry import Registry
from vaporforge.session.warm import WarmStore

blp = Blueprint("health", __name__, description="Liveness and readiness")


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
        """Redis answers (else 503 ``store_unavailable``). To the callers that may read
        ``/metrics`` (VF_METRICS_TOKEN, or loopback and private networks without
        one), also the CLI version each runtime's workers reported and admission's
        view of the capacity; everyone else gets the status only."""
        store = api_context().store
        registry = Registry.beside(store)
        registry.ping()
        if not operator_request():
            return {"status": "ready"}
        versions = registry.cli_versions()
        workers, capacity = registry.worker_capacity()
        live = registry.count_live()
        return {"status": "ready", "redis": "ok", "cli_versions": versions,
                "workers": workers, "capacity": capacity, "live_sessions": live,
                "warm": WarmStore(store).counts()}
