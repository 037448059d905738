"""OpenTelemetry traces of the pipeline: a span per job and per step, when an exporter is configured.

``configure_tracing(endpoint)`` sends spans to an OTLP/HTTP collector (``LOFI_OTLP_ENDPOINT`` or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``, e.g. ``http://otel-collector:4318``). Without an endpoint, or
without the ``otel`` extra installed, ``span()`` does nothing and costs nothing, so the pipeline calls it
unconditionally. The provider is lofi's own (not OpenTelemetry's global one), so configuring it twice,
as tests do, simply replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

TRACER = "lofi"
_provider: Any = None  # an opentelemetry.sdk.trace.TracerProvider while tracing is on
_endpoint = ""


def configure_tracing(endpoint: str, service_name: str = "lofi", exporter: Any = None) -> bool:
    """Export spans to the OTLP/HTTP ``endpoint`` (or to ``exporter``); returns whether tracing is on."""
    global _provider, _endpoint
    shutdown_tracing()
    if not endpoint and exporter is None:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning("tracing is configured (%s) but OpenTelemetry is not installed: pip install 'lofi[otel]'", endpoint)
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = endpoint.rstrip("/")
        # the variable names the collector; the exporter, given a URL, wants the traces path itself
        url = url if url.endswith("/v1/traces") else f"{url}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    _provider, _endpoint = provider, endpoint
    log.info("tracing to %s as %s", endpoint or type(exporter).__name__, service_name)
    return True


def current() -> str:
    """The endpoint tracing was configured with ("" when off), for spawned workers."""
    return _endpoint


def enabled() -> bool:
    return _provider is not None


def flush() -> None:
    if _provider is not None:
        _provider.force_flush()


def shutdown_tracing() -> None:
    """Send what is buffered and turn tracing off."""
    global _provider, _endpoint
    if _provider is not None:
        _provider.shutdown()
    _provider, _endpoint = None, ""


@contextmanager
def span(name: str, **attributes: str | int | float | bool | None) -> Iterator[Any]:
    """A span named ``lofi.<name>`` around the block (None when tracing is off); errors are recorded on it."""
    if _provider is None:
        yield None
        return
    tracer = _provider.get_tracer(TRACER)
    clean = {k: v for k, v in attributes.items() if v is not None}
    with tracer.start_as_current_span(f"lofi.{name}", attributes=clean) as current_span:
        yield current_span
