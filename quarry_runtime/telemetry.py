"""Logging and OpenTelemetry: trace context crosses the bus in message headers (W3C traceparent).

Spans are recorded only when an exporter is configured, with the standard variables:
`OTEL_TRACES_EXPORTER=otlp` (OTLP/HTTP protobuf to `OTEL_EXPORTER_OTLP_ENDPOINT`, batched),
`console`, or both (`otlp,console`); the sampler is the SDK's from `OTEL_TRACES_SAMPLER` and
`OTEL_TRACES_SAMPLER_ARG` (e.g. `parentbased_traceidratio` and `0.1`). Otherwise a consumer just
continues the publisher's trace context, which costs microseconds rather than the ~70 µs of a
recorded span per message.

Recording, a publish is a producer span and each handled message a consumer span under it
(OpenTelemetry's messaging conventions); an event the outbox publishes outside any span hangs
under the trace its envelope carries, so a run's whole work is one trace, rooted at the
gateway's `POST /v1/runs`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind

from contracts.envelope import Event
from quarry_runtime.logs import JsonLines, text_format
from quarry_runtime.spans import QUARRY_VERSION, ScopeAttributes, record_spans, recording, scope_attributes, span_in

log = logging.getLogger(__name__)

EXPORTERS = frozenset({"otlp", "console"})
MESSAGING_SYSTEM = "nats"


def configure(
    service: str, level: str = "INFO", log_format: str | None = None, environment: str = "production"
) -> None:
    """Set up log lines that name the service (JSON lines unless `log_format` or a non-production
    `environment` says text), and a tracer provider for its spans."""
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
    trace.set_tracer_provider(tracer_provider(service, exporters_named(os.environ.get("OTEL_TRACES_EXPORTER", ""))))


def exporters_named(value: str) -> frozenset[str]:
    """The exporters `OTEL_TRACES_EXPORTER` names that this runtime has (`none` names none)."""
    named = {name.strip().lower() for name in value.split(",")} - {"", "none"}
    for unknown in sorted(named - EXPORTERS):
        log.warning("OTEL_TRACES_EXPORTER names %r, which is not one of %s: ignored", unknown, sorted(EXPORTERS))
    return frozenset(named & EXPORTERS)


def tracer_provider(service: str, exporters: frozenset[str]) -> TracerProvider:
    """A provider whose spans go to `exporters`; with none, one whose spans stay non-recording,
    which still gives each request a trace id to carry across the bus, at a third of the cost."""
    resource = Resource.create({"service.name": service, "service.version": QUARRY_VERSION})
    if not exporters:
        record_spans(False)
        return TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    # sampler=None: the SDK's own, from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
    provider = TracerProvider(resource=resource, sampler=None)
    provider.add_span_processor(ScopeAttributes())
    if "otlp" in exporters:
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol not in (None, "", "http/protobuf"):
            log.warning(
                "OTEL_EXPORTER_OTLP_PROTOCOL=%s: spans are sent as http/protobuf, the one this runtime has", protocol
            )
        # Imported only when asked for: it brings protobuf and an HTTP client into every process.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Batched, in a thread of its own: a handler never waits for the collector. The exporter
        # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, headers, timeout and compression itself.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in exporters:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    record_spans(True)
    return provider


def inject_trace(headers: dict[str, str]) -> None:
    """Add the current trace context to outgoing message headers."""
    if trace.get_current_span().get_span_context().is_valid or recording():
        propagate.inject(headers)


@contextmanager
def sending(event: Event, subject: str) -> Iterator[None]:
    """A producer span around one publish, when spans are recorded (the caller checks `recording()`),
    under the current span or, published outside any (the outbox relay), the envelope's trace."""
    parent = context.get_current()
    if not trace.get_current_span(parent).get_span_context().is_valid and event.trace.traceparent is not None:
        parent = propagate.extract({"traceparent": event.trace.traceparent, "tracestate": event.trace.tracestate or ""})
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": subject,
        "messaging.message.id": event.event_id,
        **scope_attributes(event.tenant_id, event.run_id),
    }
    with span_in(parent, f"publish {subject}", attributes, SpanKind.PRODUCER):
        yield


def traced(headers: Mapping[str, str] | None) -> bool:
    """Whether a message's handler has a trace to continue or a span to record: when not,
    `run_traced` would only await the handler, and a caller may skip it (and its coroutine)."""
    return recording() or (headers is not None and "traceparent" in headers)


async def run_traced(
    service: str, consumer: str, headers: Mapping[str, str], work: Awaitable[None], subject: str | None = None
) -> None:
    """Await a handler's `work` in the publisher's trace: in a consumer span when spans are recorded."""
    if not recording():
        if "traceparent" not in headers:
            await work  # the common case, without a context manager's few microseconds per message
            return
        token = context.attach(propagate.extract(headers))
        try:
            await work
        finally:
            context.detach(token)
        return
    # A plain `with`, not an async context manager: a generator less per message.
    with handling(consumer, headers, subject):
        await work


@asynccontextmanager
async def traced_handler(
    service: str, consumer: str, headers: Mapping[str, str], subject: str | None = None
) -> AsyncIterator[None]:
    """Run a block in the publisher's trace, as `run_traced` runs a handler."""
    if not recording():
        token = context.attach(propagate.extract(headers)) if "traceparent" in headers else None
        try:
            yield
        finally:
            if token is not None:
                context.detach(token)
        return
    with handling(consumer, headers, subject):
        yield


def handling(consumer: str, headers: Mapping[str, str], subject: str | None) -> AbstractContextManager[Span]:
    """The consumer span of one delivered message, under the publisher's span its headers carry."""
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.consumer.group.name": consumer,
        "messaging.destination.subscription.name": consumer,
    }
    if subject is not None:
        attributes["messaging.destination.name"] = subject
    message_id = headers.get("Nats-Msg-Id")
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    # Named by the consumer, not the subject: one name per durable whatever its filter (bounded).
    return span_in(propagate.extract(headers), f"process {consumer}", attributes, SpanKind.CONSUMER)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")
