"""Without an exporter spans are not recorded, yet every request still has a trace to carry."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json
from opentelemetry import trace
from quarry_runtime import telemetry
telemetry.configure("probe")
with trace.get_tracer("probe").start_as_current_span("request") as span:
    headers = {}
    telemetry.inject_trace(headers)
    print("PROBE " + json.dumps({"recording": span.is_recording(), "traceparent": headers.get("traceparent"),
                      "trace_id": format(span.get_span_context().trace_id, "032x")}), flush=True)
"""


def probe(exporter: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_TRACES_EXPORTER"}
    if exporter is not None:
        env["OTEL_TRACES_EXPORTER"] = exporter
    # A process of its own: the tracer provider is set once per process. The console exporter
    # prints spans on stdout too, so the probe marks its own line.
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("PROBE "))
    result: dict[str, object] = json.loads(line.removeprefix("PROBE "))
    return result


def test_without_an_exporter_a_span_is_not_recorded_but_its_trace_crosses_the_bus() -> None:
    seen = probe(None)
    assert seen["recording"] is False
    traceparent = str(seen["traceparent"])
    assert traceparent.split("-")[1] == seen["trace_id"] != "0" * 32


def test_with_the_console_exporter_spans_are_recorded_and_sampled() -> None:
    seen = probe("console")
    assert seen["recording"] is True
    flags = int(str(seen["traceparent"]).rsplit("-", 1)[1], 16)
    assert flags & 1  # sampled
