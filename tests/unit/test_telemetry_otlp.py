"""OTEL_TRACES_EXPORTER=otlp sends spans over OTLP/HTTP (protobuf) to OTEL_EXPORTER_OTLP_ENDPOINT,
sampled by OTEL_TRACES_SAMPLER; a message's consumer span continues its producer's, and every
span names the run and tenant it worked for."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from quarry_runtime.telemetry import exporters_named
from tests.fakes.otlp import OtlpReceiver, ReceivedSpan, serve
from tests.support.polling import wait_for

# One process per case: the tracer provider is set once per process. The probe publishes an
# event's producer span (outside any span, as the outbox relay does: under the envelope's trace),
# handles it as a consumer would, in its scope, and asks a "model" inside the handler.
PROBE = """
import asyncio, sys
from contracts.envelope import TraceContext
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime import telemetry
from quarry_runtime.logs import scoped
from quarry_runtime.spans import span

telemetry.configure("probe", "WARNING")
parent = sys.argv[1] if len(sys.argv) > 1 else None
event = RunRequested.create(
    RunRequestedPayload(question="Why?", depth=1, max_sources=3), tenant_id="tenant-a", run_id="run-1", trace=TraceContext(traceparent=parent)
)

async def handled() -> None:
    headers: dict[str, str] = {"Nats-Msg-Id": event.event_id}
    with telemetry.sending(event, event.SUBJECT):
        telemetry.inject_trace(headers)
    with scoped(event.tenant_id, event.run_id):
        async with telemetry.traced_handler("probe", "billing-run-requested", headers, event.SUBJECT):
            with span("task plan", {"quarry.task.kind": "plan"}):
                pass
    print("TRACEPARENT " + headers.get("traceparent", ""), flush=True)

asyncio.run(handled())
"""
SAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture(scope="module")
def received() -> Iterator[tuple[OtlpReceiver, str]]:
    with serve() as served:
        yield served


def probe(endpoint: str, *args: str, **env: str) -> str:
    """Runs the probe with these OTEL_* variables; the traceparent its message carried."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base |= {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **env}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if line.startswith("TRACEPARENT "))
    return line.removeprefix("TRACEPARENT ")


def sampled(traceparent: str) -> bool:
    return bool(int(traceparent.rsplit("-", 1)[1], 16) & 1)


def spans_in(receiver: OtlpReceiver, trace_id: str, count: int) -> list[ReceivedSpan]:
    def arrived() -> list[ReceivedSpan] | None:
        spans = receiver.trace(trace_id)
        return spans if len(spans) >= count else None

    found = wait_for(arrived, what=f"{count} spans")
    assert found is not None
    return found


def test_spans_reach_the_collector_as_one_trace_under_the_envelope(received: tuple[OtlpReceiver, str]) -> None:
    receiver, endpoint = received
    carried = probe(
        endpoint, SAMPLED_PARENT, OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="1"
    )
    trace_id = SAMPLED_PARENT.split("-")[1]
    assert carried.split("-")[1] == trace_id
    spans = {s.name: s for s in spans_in(receiver, trace_id, 3)}
    producer = spans["publish run.v1.requested"]
    consumer = spans["process billing-run-requested"]
    task = spans["task plan"]
    assert producer.kind == "producer" and producer.parent_span_id == SAMPLED_PARENT.split("-")[2]
    assert consumer.kind == "consumer" and consumer.parent_span_id == producer.span_id == carried.split("-")[2]
    assert task.parent_span_id == consumer.span_id
    assert producer.attributes["messaging.operation.type"] == "send"
    assert consumer.attributes["messaging.operation.type"] == "process"
    assert consumer.attributes["messaging.destination.name"] == "run.v1.requested"
    assert consumer.attributes["messaging.message.id"] == producer.attributes["messaging.message.id"]
    for span in spans.values():
        assert span.service == "probe" and span.resource["service.version"]
        assert span.attributes["quarry.run.id"] == "run-1" and span.attributes["quarry.tenant.id"] == "tenant-a"


def test_the_ratio_sampler_follows_the_parent_and_samples_new_traces_by_ratio(
    received: tuple[OtlpReceiver, str],
) -> None:
    receiver, endpoint = received
    ratio_zero = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    # A sampled parent is followed whatever the ratio.
    probe(endpoint, SAMPLED_PARENT.replace("0af7", "1af7"), **ratio_zero)
    assert spans_in(receiver, "1af7651916cd43dd8448eb211c80319c", 3)
    # An unsampled parent is too: its trace still crosses the bus, nothing of it is exported...
    unsampled = probe(endpoint, UNSAMPLED_PARENT.replace("0af7", "2af7"), OTEL_TRACES_SAMPLER="parentbased_always_on")
    assert unsampled.startswith("00-2af7") and not sampled(unsampled)
    # ...and a new trace at ratio 0 is not sampled either.
    fresh = probe(endpoint, **ratio_zero)
    assert not sampled(fresh)
    # The sampled probe after them proves the exports before it would have arrived by now.
    probe(endpoint, SAMPLED_PARENT.replace("0af7", "3af7"))
    spans_in(receiver, "3af7651916cd43dd8448eb211c80319c", 3)
    assert receiver.trace("2af7651916cd43dd8448eb211c80319c") == []
    assert receiver.trace(fresh.split("-")[1]) == []


def test_the_exporter_variable_names_otlp_console_both_or_none(caplog: pytest.LogCaptureFixture) -> None:
    assert exporters_named("otlp") == {"otlp"}
    assert exporters_named(" OTLP , console") == {"otlp", "console"}
    assert exporters_named("none") == exporters_named("") == frozenset()
    assert exporters_named("jaeger,otlp") == {"otlp"}
    assert "'jaeger'" in caplog.text  # said, not silently dropped
