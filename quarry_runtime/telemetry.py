"""Logging and OpenTelemetry: trace context crosses the bus in message headers (W3C traceparent).

Spans are recorded only when an exporter is configured (`OTEL_TRACES_EXPORTER=console`);
otherwise a consumer just continues the publisher's trace context, which costs microseconds
rather than the ~70 µs of a recorded span per message.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from quarry_runtime.logs import JsonLines, text_format

_tracer = trace.get_tracer("quarry")
_recording = False


def configure(
    service: str, level: str = "INFO", log_format: str | None = None, environment: str = "production"
) -> None:
    """Set up log lines that name the service (JSON lines unless `log_format` or a non-production
    `environment` says text), and a tracer provider for its spans."""
    global _recording
    handler = logging.StreamHandler(sys.stderr)
    as_json = log_format == "json" or (log_format is None and environment == "production")
    handler.setFormatter(JsonLines(service) if as_json else text_format(service))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # fontTools logs every font subset the reporter's PDFs embed at INFO: about 130 lines a
    # report, 26,000 for 200 runs, which buried the reporter's own lines.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    exporting = os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console"
    # Nothing exports: spans (FastAPI's server span among them) stay non-recording, which still
    # gives each request a trace id to carry across the bus, at a third of the cost.
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=None if exporting else ALWAYS_OFF
    )
    if exporting:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        _recording = True
    trace.set_tracer_provider(provider)


def inject_trace(headers: dict[str, str]) -> None:
    """Add the current trace context to outgoing message headers."""
    if trace.get_current_span().get_span_context().is_valid or _recording:
        propagate.inject(headers)


def traced(headers: Mapping[str, str] | None) -> bool:
    """Whether a message's handler has a trace to continue or a span to record: when not,
    `run_traced` would only await the handler, and a caller may skip it (and its coroutine)."""
    return _recording or (headers is not None and "traceparent" in headers)


async def run_traced(service: str, consumer: str, headers: Mapping[str, str], work: Awaitable[None]) -> None:
    """Await a handler's `work` in the publisher's trace, as `traced_handler` runs it."""
    if not _recording and "traceparent" not in headers:
        await work  # the common case, without a context manager's few microseconds per message
        return
    async with traced_handler(service, consumer, headers):
        await work


@asynccontextmanager
async def traced_handler(service: str, consumer: str, headers: Mapping[str, str]) -> AsyncIterator[None]:
    """Run a handler in the publisher's trace: in a consumer span when spans are exported."""
    if not _recording and "traceparent" not in headers:
        yield  # no trace to continue and no span to record
        return
    ctx = propagate.extract(dict(headers))
    if not _recording:
        token = context.attach(ctx)
        try:
            yield
        finally:
            context.detach(token)
        return
    with _tracer.start_as_current_span(
        f"{consumer} process",
        context=ctx,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "nats", "messaging.consumer.group.name": consumer, "service.name": service},
    ):
        yield


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")
