"""/metrics: Prometheus text, computed from Redis at each scrape.

Every number comes from Redis (the counters the session steps keep, the
live sessions, the workers' registrations), so any number of API processes
answer the same. Per-worker series (time to URL, time to ready, reaper actions)
are on each worker's own ``VF_METRICS_PORT``.

Private (vaporforge.access): anyone else gets the API's ordinary 404, so the
route is not advertised; the rate limit (VF_PROBE_RATE per client network, as
``/readyz``) counts only the callers let in, so a 429 does not advertise it either.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, abort
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.context import api_context, operator_request
from api.limits import hit_metrics
from vaporforge.registry import Registry
from vaporforge.session.states import SessionState
from vaporforge.session.store import SessionStore
from vaporforge.session.warm import WarmStore

blp = Blueprint("metrics", __name__)


class StoreCollector(Collector):
    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.registry = Registry.beside(store)

    def collect(self) -> Iterator[Metric]:
        counters = self.registry.counters()
        created = CounterMetricFamily("vaporforge_sessions_created",
                                      "Sessions admitted and created.")
        created.add_metric([], counters.get("created", 0))
        refused = CounterMetricFamily("vaporforge_sessions_refused",
                                      "Creations refused at capacity (503 at_capacity).")
        refused.add_metric([], counters.get("refused", 0))
        reached = CounterMetricFamily("vaporforge_sessions_reached",
                                      "Moves into each state.", labels=["state"])
        ended = CounterMetricFamily("vaporforge_sessions_ended",
                                    "Sessions ended, by final state and error code.",
                                    labels=["state", "code"])
        minted = CounterMetricFamily("vaporforge_tickets_minted",
                                     "Connect tickets minted, by host.", labels=["host"])
        ticket_refused = CounterMetricFamily(
            "vaporforge_tickets_refused", "Ticket requests refused, by error code and host "
            "(empty: no valid host key).", labels=["code", "host"])
        relayed = CounterMetricFamily(
            "vaporforge_refresh_relayed", "Refresh requests answered, by outcome (ok or the "
            "error code) and the grant's host (empty: none).", labels=["outcome", "host"])
        for name, value in sorted(counters.items()):
            kind, _, rest = name.partition(":")
            if kind == "reached":
                reached.add_metric([rest], value)
            elif kind == "ended":
                state, _, code = rest.partition(":")
                ended.add_metric([state, code], value)
            elif kind == "ticket":
                verdict, _, rest = rest.partition(":")
                if verdict == "minted":
                    minted.add_metric([rest], value)
                else:
                    code, _, host = rest.partition(":")
                    ticket_refused.add_metric([code, host], value)
            elif kind == "refresh":
                outcome, _, host = rest.partition(":")
                relayed.add_metric([outcome, host], value)
        live = GaugeMetricFamily("vaporforge_sessions_live", "Live sessions by state.",
                                 labels=["state"])
        found = self.registry.live_states()
        for state in SessionState:
            if not state.terminal:
                live.add_metric([state.value], found.get(state.value, 0))
        workers, capacity = self.registry.worker_capacity()
        in_use = sum(found.values())
        worker_gauge = GaugeMetricFamily("vaporforge_workers",
                                         "Worker processes advertising capacity.")
        worker_gauge.add_metric([], workers)
        slots = GaugeMetricFamily("vaporforge_capacity_slots",
                                  "Login slots of all workers: total, in use, free.",
                                  labels=["kind"])
        for kind, value in (("total", capacity), ("in_use", in_use),
                            ("free", max(capacity - in_use, 0))):
            slots.add_metric([kind], value)
        warm = GaugeMetricFamily("vaporforge_warm_entries",
                                 "Warm entries offered now (CLI showing its URL), by mode.",
                                 labels=["mode"])
        for mode, count in WarmStore(self.store).counts().items():
            warm.add_metric([mode], count)
        bound = CounterMetricFamily("vaporforge_sessions_warm_bound",
                                    "Sessions that took a warm entry.")
        bound.add_metric([], counters.get("warm_bound", 0))
        yield from (created, refused, reached, ended, live, worker_gauge, slots, warm, bound,
                    minted, ticket_refused, relayed)


@blp.route("/metrics")
def metrics() -> Response:
    if not operator_request():
        abort(404)
    hit_metrics()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(api_context().store))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
