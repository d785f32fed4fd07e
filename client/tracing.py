"""OpenTelemetry traces, when an operator asks for them: with the `otel` extra installed and
`OTEL_EXPORTER_OTLP_ENDPOINT` set, every client Gantry builds (workers and the CLI) carries
Temporal's TracingInterceptor and exports spans over OTLP/HTTP (the exporter reads the usual
OTEL_* variables). A promotion started by `gantry promote` is one trace: the client's
StartWorkflow span, the workflow's run, and each step's StartActivity/RunActivity.

Without the variable nothing changes; with it but without the extra, one warning says how to
install it. Span attributes are Temporal's own (workflow and activity ids and types): no
payload, so no credential, is ever put in a span.
"""

from __future__ import annotations

import os
from typing import Any

import structlog

log = structlog.get_logger("gantry")
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_provider_ready = False


def _setup_provider(service: str) -> None:
    """The process's tracer provider, exporting over OTLP/HTTP in batches (once)."""
    global _provider_ready
    if _provider_ready:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider_ready = True


def tracing_interceptors(service: str = "gantry") -> list[Any]:
    """[TracingInterceptor] when traces are asked for and can be sent, else []."""
    if not os.environ.get(ENDPOINT):
        return []
    try:
        from temporalio.contrib.opentelemetry import TracingInterceptor

        _setup_provider(service)
    except ImportError:
        log.warning(f"{ENDPOINT} is set but OpenTelemetry is not installed: pip install 'gantry[otel]'")
        return []
    return [TracingInterceptor()]


def flush() -> None:
    """Send the spans still batched (the CLI leaves with os._exit, which would drop them)."""
    if not _provider_ready:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(5000)
