"""Prometheus metrics, every name with the lofi_ prefix, in a registry of the app's own.

Request counts and latencies are observed by a middleware, by route template (never the raw path, so a
track id does not make a new series); the job, queue and step figures are read from the catalog and the
queue when Prometheus scrapes, so they are right whichever process did the work. The server's own
process figures (``process_resident_memory_bytes`` and the rest) come from prometheus-client.

Jobs finished since the server started are counted (``lofi_jobs_finished_total``) and timed
(``lofi_job_duration_seconds``) from the catalog too, so every API replica reports every job: aggregate
those with ``max``, not ``sum``, across replicas. docs/OPERATIONS.md lists every metric and its alert.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily
from starlette.routing import Match

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# a track takes seconds (MIDI only, the tiny model) to many minutes (a long video on a CPU)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0)


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
        self.model_load = Gauge("lofi_model_load_seconds", "Seconds the server took to check its model at start-up.",
                                registry=self.registry)  # fmt: skip
        self.websockets = Gauge("lofi_websockets_open", "WebSocket handlers running (clients following jobs).",
                                registry=self.registry)  # fmt: skip
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes, process_cpu_seconds_total...
        self.jobs_finished = JobsFinished()

    def watch(self, read: Callable[[], dict]) -> None:
        """Figures read at scrape time: ``read()`` returns jobs by state, queue length, step timings, cache."""
        self.registry.register(_Snapshot(read, self.jobs_finished))


class JobsFinished:
    """Jobs that ended since the server started, by state, and how long the done and failed ones ran.

    ``add`` is fed the jobs the catalog says finished; a job is counted once however often it is seen.
    """

    def __init__(self, buckets: tuple[float, ...] = JOB_BUCKETS) -> None:
        self.buckets = buckets
        self.since: datetime | None = None  # set by the reader to the server's start
        self.last_read: datetime | None = None
        self.counts: dict[str, int] = {}
        self.durations: dict[str, tuple[list[int], float, int]] = {}  # state -> (bucket counts, sum, count)
        self._seen: dict[str, datetime] = {}  # id -> finished_at, kept for a while for late commits

    def add(self, jobs: Iterable[tuple[str, str, datetime | None, datetime]], forget_before: datetime) -> None:
        """``jobs``: (id, state, started_at, finished_at); ids finished before ``forget_before`` are forgotten."""
        for job_id, state, started_at, finished_at in jobs:
            if job_id in self._seen:
                continue
            self._seen[job_id] = finished_at
            self.counts[state] = self.counts.get(state, 0) + 1
            if started_at is None or state not in ("done", "failed"):
                continue
            seconds = max(0.0, (finished_at - started_at).total_seconds())
            counts, total, count = self.durations.get(state, ([0] * len(self.buckets), 0.0, 0))
            for i, bound in enumerate(self.buckets):
                if seconds <= bound:
                    counts[i] += 1
            self.durations[state] = (counts, total + seconds, count + 1)
        self._seen = {k: v for k, v in self._seen.items() if v >= forget_before}

    def families(self):
        finished = CounterMetricFamily("lofi_jobs_finished", "Jobs that ended since the server started, by state.",
                                       labels=["state"])  # fmt: skip
        for state in ("done", "failed", "cancelled"):
            finished.add_metric([state], self.counts.get(state, 0))
        yield finished
        durations = HistogramMetricFamily(
            "lofi_job_duration_seconds", "Seconds from claim to end of jobs that ended since the server started.",
            labels=["state"],
        )  # fmt: skip
        for state in ("done", "failed"):
            counts, total, count = self.durations.get(state, ([0] * len(self.buckets), 0.0, 0))
            buckets = [(str(bound), n) for bound, n in zip(self.buckets, counts, strict=True)] + [("+Inf", count)]
            durations.add_metric([state], buckets, total)
        yield durations


class _Snapshot:
    def __init__(self, read: Callable[[], dict], jobs_finished: JobsFinished) -> None:
        self.read = read
        self.jobs_finished = jobs_finished

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
        if "workers" in data:
            yield GaugeMetricFamily("lofi_workers", "Live job worker processes.", value=data["workers"])
        for name, value in data.get("disk", {}).items():
            yield GaugeMetricFamily(f"lofi_disk_{name}_bytes", f"Bytes {name} on the LOFI_HOME volume.", value=value)
        if "radio" in data:  # lofi serve --radio
            radio = data["radio"]
            yield GaugeMetricFamily(
                "lofi_radio_listeners", "Listeners of the radio's MP3 stream.", value=radio["listeners"]
            )
            yield GaugeMetricFamily(
                "lofi_radio_buffer_seconds", "Music rendered ahead of the radio's player.", value=radio["buffer"]
            )
            yield CounterMetricFamily(
                "lofi_radio_gap_seconds", "Seconds the radio had nothing to play.", value=radio["gaps"]
            )
            yield CounterMetricFamily("lofi_radio_underruns", "Gaps the radio's stream had.", value=radio["underruns"])
            yield CounterMetricFamily("lofi_radio_tracks", "Tracks the radio's producer made.", value=radio["tracks"])
        yield from self.jobs_finished.families()


def route_of(scope: dict) -> str:
    """The route template that served the request ("/api/v1/tracks/{track_id}"), or "unmatched"."""
    route = scope.get("route")  # set by the router once a route matched
    if route is not None:
        return getattr(route, "path", "unmatched")
    # a mount (static files) leaves no "route" behind, nor does a request turned away before the router
    return _template(scope["app"].router.routes, scope) or "unmatched"


def _template(routes: Iterable, scope: dict) -> str | None:
    for candidate in routes:
        if candidate.matches(scope)[0] == Match.FULL:
            included = getattr(candidate, "original_router", None)  # FastAPI keeps an included router whole
            return _template(included.routes, scope) if included is not None else getattr(candidate, "path", None)
    return None


class MetricsMiddleware:
    """Counts and times each HTTP request by route template, status and method, up to the start of its
    answer (a big file's transfer is the client's time, not the server's).

    Plain ASGI: it runs for every request, the ones load shedding turns away included, so it must cost
    the event loop little. Requests turned away before the router are labelled by matching the routes,
    which is slow: those templates are kept per method and path.
    """

    KEPT = 1024

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self.templates: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            route = self.route(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(time.perf_counter() - started)

        async def send_observed(message: dict) -> None:
            if message["type"] == "http.response.start" and not observed:
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if not observed:  # an error before any answer: the server answers 500
                observe(500)

    def route(self, scope: dict) -> str:
        if "route" in scope:
            return route_of(scope)
        key = (scope["method"], scope["path"])
        if (template := self.templates.get(key)) is None:
            template = self.templates[key] = route_of(scope)
            if len(self.templates) > self.KEPT:
                self.templates.popitem(last=False)
        return template
