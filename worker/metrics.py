"""One worker process's own series, served on ``VF_METRICS_PORT`` when set.

The port follows the API's rule for operations data (vaporforge.access): the
metrics token, or a direct call from a loopback or private address when no token
is set; everyone else gets a bare 404.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from vaporforge.access import may_read_operations

URL_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30)
READY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class WorkerMetrics:
    """A registry of its own, so several in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.time_to_url = Histogram(
            "vaporforge_worker_time_to_url_seconds",
            "From the worker taking a session to its sign-in URL being published.",
            buckets=URL_BUCKETS, registry=self.registry)
        self.time_to_ready = Histogram(
            "vaporforge_worker_time_to_ready_seconds",
            "From a code reaching the worker to the session being ready.",
            buckets=READY_BUCKETS, registry=self.registry)
        self.logins = Counter(
            "vaporforge_worker_logins", "Logins this worker ran, by the state it left them in.",
            ["state"], registry=self.registry)
        self.reaper = Counter(
            "vaporforge_reaper_actions", "What this worker's reaper did.", ["action"],
            registry=self.registry)
        self.warm = Gauge("vaporforge_worker_warm_entries",
                          "Warm entries (CLI showing its URL, no session yet) by mode.",
                          ["mode"], registry=self.registry)
        self.slots = Gauge("vaporforge_worker_slots", "This worker's login slots.", ["kind"],
                           registry=self.registry)
        self.webhooks = Counter(
            "vaporforge_webhook_deliveries", "Webhook events this worker handled, by host and "
            "outcome: delivered, failed (retry queued), given_up (24 h of retries), deferred "
            "(its pool was full: sent back untried), dropped (no webhook for its host).",
            ["host", "outcome"], registry=self.registry)
        self.webhook_backlog = Gauge(
            "vaporforge_webhook_backlog", "Webhook events in this worker's delivery pool: "
            "attempts under way and events waiting for a thread.", registry=self.registry)
        # An info metric (value 1, the version in a label): workers disagreeing after a
        # half-finished rollout show as more than one version across the fleet.
        self.cli = Info("vaporforge_worker_cli", "The login CLI this worker runs: its "
                        "runtime and --version (unavailable: it does not run).",
                        registry=self.registry)

    def webhook_outcome(self, host: str, outcome: str) -> None:
        """Count one webhook event's outcome (``host``: a configured host's name)."""
        self.webhooks.labels(host, outcome).inc()

    def serve(self, port: int, token: str = "", host: str = "0.0.0.0") -> ThreadingWSGIServer:
        """Serve the series on ``host:port`` in a daemon thread, to the callers
        :func:`private_app` lets in; returns the server (``shutdown()`` stops it)."""
        server = make_server(host, port, private_app(make_wsgi_app(self.registry), token),
                             ThreadingWSGIServer, handler_class=_QuietHandler)
        threading.Thread(target=server.serve_forever, name="vf-metrics", daemon=True).start()
        return server


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def private_app(app: WsgiApp, token: str) -> WsgiApp:
    """``app`` for the callers that may read operations data; 404 for the rest."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {key[5:].replace("_", "-"): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if may_read_operations(token, headers, environ.get("REMOTE_ADDR")):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    return guarded


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape (wsgiref writes them to stderr)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
