"""A real `lofi serve`: JSON logs with the request and job ids, traces, and a graceful SIGTERM."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy_helpers import http_json
from helpers import wait_for
from lofi import logs, tracing
from lofi.catalog import open_catalog
from lofi.catalog.queries import get_job

REQUEST = {"mood": "rainy", "minutes": 0.25, "seed": 11}


class Collector:
    """A stand-in OpenTelemetry collector: takes OTLP/HTTP protobuf exports and keeps their spans."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        spans = self.spans = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                export = ExportTraceServiceRequest.FromString(body)
                for resource in export.resource_spans:
                    service = next(
                        a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
                    )
                    for scope in resource.scope_spans:
                        spans.extend((service, span) for span in scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def names(self, **attributes: str) -> dict[str, list]:
        found: dict[str, list] = {}
        for _, span in self.spans:
            values = {a.key: a.value.string_value for a in span.attributes}
            if all(values.get(k) == v for k, v in attributes.items()):
                found.setdefault(span.name, []).append(span)
        return found


@pytest.fixture
def collector():
    collector = Collector()
    yield collector
    collector.server.shutdown()


def job_in_catalog(home: Path, job_id: str):
    with open_catalog(f"sqlite:///{home / 'lofi.db'}") as catalog, catalog.session() as session:
        return get_job(session, job_id).to_record()


def parse_lines(lines: list[str]) -> list[dict]:
    """Every line of the log as JSON, with the fields every line must carry."""
    records = []
    for line in lines:
        record = json.loads(line)  # a line that is not JSON fails here, with the line in the message
        assert {"time", "level", "logger", "message", "request_id", "job_id"} <= set(record), line
        records.append(record)
    return records


def test_sigterm_requeues_then_finishes_jobs_with_json_logs_and_traces(lofi_server, collector):
    # 1. No grace: a job caught rendering goes back to the queue; the process exits 0.
    server = lofi_server(LOFI_SHUTDOWN_GRACE_S="0")
    status, headers, job = http_json(f"{server.url}/api/v1/generate", REQUEST, {"X-Request-ID": "req-shutdown-1"})
    assert status == 202, job
    assert headers.get("x-request-id") == "req-shutdown-1"

    def rendering() -> bool:
        state = http_json(f"{server.url}/api/v1/jobs/{job['id']}")[2]
        assert state["state"] in ("queued", "running"), (state["state"], state["error"])
        return state["message"] == "rendering"

    wait_for(rendering, "the job to render")
    assert server.terminate() == 0
    requeued = job_in_catalog(server.home, job["id"])
    assert requeued.state == "queued", (requeued.state, requeued.message)
    records = parse_lines(server.log_lines())
    assert any(r["request_id"] == "req-shutdown-1" and "/api/v1/generate" in r["message"] for r in records)
    assert any(r["job_id"] == job["id"] and "started" in r["message"] for r in records)
    assert any("requeued" in r["message"] and job["id"] in r["message"] for r in records)
    assert all(r["job_id"] in (None, job["id"]) for r in records)

    # 2. A restart resumes the requeued job; with a grace, a job running at SIGTERM finishes.
    server = lofi_server(LOFI_SHUTDOWN_GRACE_S="300", LOFI_OTLP_ENDPOINT=collector.url)
    resumed = wait_for(
        lambda: (j := http_json(f"{server.url}/api/v1/jobs/{job['id']}")[2])["state"] == "done" and j,
        "the requeued job to be done after the restart",
    )
    assert resumed["attempts"] == 1  # stopped by the shutdown, not failed: the first run is given back
    status, _, second = http_json(f"{server.url}/api/v1/generate", {**REQUEST, "seed": 12})
    assert status == 202
    wait_for(lambda: http_json(f"{server.url}/api/v1/jobs/{second['id']}")[2]["state"] == "running", "job 2 to run")
    assert server.terminate() == 0
    assert job_in_catalog(server.home, second["id"]).state == "done"
    records = parse_lines(server.log_lines())
    generated = [r for r in records if r["request_id"] and "/api/v1/generate" in r["message"]]
    assert generated and all(len(r["request_id"]) == 32 for r in generated)  # new ids when none is given
    for job_id in (job["id"], second["id"]):
        assert any(r["job_id"] == job_id and "ended done" in r["message"] for r in records), job_id

    # the worker process sent its spans before it exited: a job span over one span per step
    spans = collector.names()
    (job_span,) = collector.names(job_id=second["id"])["lofi.job"]
    for step in ("lofi.compose", "lofi.analyze", "lofi.render", "lofi.publish"):
        assert any(s.parent_span_id == job_span.span_id for s in spans[step]), step
    assert {service for service, _ in collector.spans} == {"lofi-worker"}


def test_text_and_json_formats_carry_the_ids(capsys):
    logs.configure_logging(logs.LogConfig("json", "INFO"))
    try:
        log = logging.getLogger("lofi.test")
        with logs.request_context("r-1"), logs.job_context("j-1"):
            log.info("inside")
        log.warning("outside")
        lines = capsys.readouterr().err.splitlines()
        inside, outside = (json.loads(line) for line in lines[-2:])
        assert (inside["request_id"], inside["job_id"], inside["message"]) == ("r-1", "j-1", "inside")
        assert (outside["request_id"], outside["job_id"], outside["level"]) == (None, None, "WARNING")
        logs.configure_logging(logs.LogConfig("text", "INFO"))
        with logs.job_context("j-2"):
            log.info("as text")
        assert "[job j-2]: as text" in capsys.readouterr().err
    finally:
        logging.getLogger().removeHandler(next(h for h in logging.getLogger().handlers if h.get_name() == "lofi"))
    with pytest.raises(ValueError, match="log format"):
        logs.LogConfig("xml")


def test_tracing_is_a_no_op_until_configured():
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracing.shutdown_tracing()
    with tracing.span("compose") as span:
        assert span is None
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing("", "lofi-test", exporter=exporter)
    try:
        with tracing.span("job", job_id="j"), tracing.span("render", track_id="t"):
            pass
        with pytest.raises(RuntimeError), tracing.span("publish"):
            raise RuntimeError("upload failed")
    finally:
        tracing.shutdown_tracing()
    finished = {s.name: s for s in exporter.get_finished_spans()}
    assert finished["lofi.render"].parent.span_id == finished["lofi.job"].context.span_id
    assert finished["lofi.job"].attributes["job_id"] == "j"
    assert not finished["lofi.publish"].status.is_ok
    assert not tracing.enabled()
