"""Prometheus metrics, every name with the lofi_ prefix, in a registry of the app's own.

Request counts and latencies are observed by a middleware, by route template (never the raw path, so a
track id does not make a new series); the job, queue and step figures are read from the catalog and the
queue when Prometheus scrapes, so they are right whichever process did the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lofi_http_requests", "HTTP requests by route, method and status.", ["route", "method", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "lofi_http_request_duration_seconds", "HTTP request latency by route.", ["route", "method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.model_load = Gauge("lofi_model_load_seconds", "Seconds the server took to load the model.",
                                registry=self.registry)  # fmt: skip

    def watch(self, read: Callable[[], dict]) -> None:
        """Figures read at scrape time: ``read()`` returns jobs by state, queue length, step timings, cache."""
        self.registry.register(_Snapshot(read))


class _Snapshot:
    def __init__(self, read: Callable[[], dict]) -> None:
        self.read = read

    def describe(self):
        return []  # collected lazily: the catalog may not be reachable at registration

    def collect(self):
        data = self.read()
        jobs = GaugeMetricFamily("lofi_jobs", "Jobs in the catalog by state.", labels=["state"])
        for state, count in data.get("jobs", {}).items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily("lofi_queue_length", "Jobs waiting for a worker.", value=data.get("queue_length", 0))
        steps = SummaryMetricFamily(
            "lofi_generation_step_seconds", "Seconds per pipeline step of finished tracks.", labels=["step"]
        )
        for step, (count, total) in data.get("steps", {}).items():
            steps.add_metric([step], count, total)
        yield steps
        cache = data.get("cache", {})
        hits = GaugeMetricFamily("lofi_cache_hits", "Generation cache hits since the server started.")
        hits.add_metric([], cache.get("hits", 0))
        yield hits
        misses = GaugeMetricFamily("lofi_cache_misses", "Generation cache misses since the server started.")
        misses.add_metric([], cache.get("misses", 0))
        yield misses


def route_of(request: Request) -> str:
    """The route template that served the request ("/api/v1/tracks/{track_id}"), or "unmatched"."""
    route = request.scope.get("route")  # set by the router once a route matched
    if route is not None:
        return getattr(route, "path", "unmatched")
    for candidate in request.app.router.routes:  # a mount (static files) leaves no "route" behind
        if candidate.matches(request.scope)[0] == Match.FULL:
            return getattr(candidate, "path", "unmatched")
    return "unmatched"


def middleware(metrics: Metrics):
    async def observe(request: Request, call_next) -> Response:
        if request.scope["type"] != "http":
            return await call_next(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = route_of(request)
            metrics.requests.labels(route, request.method, str(status)).inc()
            metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)

    return observe
