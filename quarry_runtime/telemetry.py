"""Logging and OpenTelemetry: spans cross the bus in message headers (W3C traceparent)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

_tracer = trace.get_tracer("quarry")


def configure(service: str, level: str = "INFO") -> None:
    """Set up log lines that name the service, and a tracer provider for its spans."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {service:<12} %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service})))


def inject_trace(headers: dict[str, str]) -> None:
    """Add the current span's context to outgoing message headers."""
    propagate.inject(headers)


@asynccontextmanager
async def traced_handler(service: str, consumer: str, headers: Mapping[str, str]) -> AsyncIterator[None]:
    """Run a handler inside a consumer span that continues the publisher's trace."""
    ctx = propagate.extract(dict(headers))
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
