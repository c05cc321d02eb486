"""A local OTLP/HTTP trace receiver (the real protocol on 127.0.0.1): `POST /v1/traces` with an
`ExportTraceServiceRequest` in protobuf (gzip or not), decoded with opentelemetry-proto, the
spans kept for a test to read as plain values."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.fakes.serving import serve_app

PROTOBUF = "application/x-protobuf"
# What the span kinds of the protocol's enum are called in OpenTelemetry's API.
KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the resource's service.name
    name: str
    kind: str
    trace_id: str  # 32 hex digits, as a traceparent writes it
    span_id: str
    parent_span_id: str  # "" for a root
    attributes: dict[str, Any]
    resource: dict[str, Any]


def value_of(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if which is None:
        return None
    return getattr(value, which)


def attributes_of(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {pair.key: value_of(pair.value) for pair in pairs}


def spans_of(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name", "")),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=attributes_of(span.attributes),
                        resource=resource,
                    )
                )
    return out


class OtlpReceiver:
    """Keeps every span exported to it; `requests` counts the export requests it answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Requests as decoded; read as spans only when asked, so a benchmark's receiver takes
        # little CPU from the processes it measures.
        self._requests: list[ExportTraceServiceRequest] = []
        self.requests = 0
        self.app = FastAPI()

        @self.app.post("/v1/traces")
        async def export(request: Request) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip() != PROTOBUF:
                return Response("OTLP/HTTP protobuf only", status_code=415)
            body = await request.body()
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            decoded = ExportTraceServiceRequest()
            decoded.ParseFromString(body)
            with self._lock:
                self._requests.append(decoded)
                self.requests += 1
            return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            requests = list(self._requests)
        return [span for request in requests for span in spans_of(request)]

    def span_count(self) -> int:
        with self._lock:
            requests = list(self._requests)
        return sum(len(s.spans) for request in requests for r in request.resource_spans for s in r.scope_spans)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]


@contextmanager
def serve() -> Iterator[tuple[OtlpReceiver, str]]:
    """A receiver on a free loopback port and its base URL (what OTEL_EXPORTER_OTLP_ENDPOINT takes)."""
    receiver = OtlpReceiver()
    with serve_app(receiver.app, "otlp-receiver") as url:
        yield receiver, url
