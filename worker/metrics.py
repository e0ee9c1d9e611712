"""One worker process's own series, served on ``VF_METRICS_PORT`` when set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

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

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
