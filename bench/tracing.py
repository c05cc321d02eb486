"""Tracing's cost: one path through the Bus timed with tracing off and with spans exported over OTLP
at a sampler of 100%, in alternating rounds of the same run; the throughput ratio is the figure.

The path is what a run's events do in a service: `Bus.publish(RunRequested)` carrying a run's trace
in its envelope (as the gateway's and the outbox's publishes do) -> the Bus's consumer -> a handler
that makes one span of its own work (as a task, a decision or a billing entry does) and publishes
its reaction (`RunAdmitted`) -> a second consumer. Traced, that is five spans a message: two
publishes (producer), two deliveries (consumer) and the handler's. A burst of N messages is
published back to back (each publish awaits its ack) and timed from the first publish to the
last reaction received.

A second figure times whole runs (bench.tracing_runs), where the target holds.

Each side runs in a process of its own (a tracer provider is set once per process) on a fresh
nats-server: off, with no OTEL_TRACES_EXPORTER (the services' default, spans non-recording); on,
with `OTEL_TRACES_EXPORTER=otlp`, `OTEL_TRACES_SAMPLER=parentbased_traceidratio`,
`OTEL_TRACES_SAMPLER_ARG=1` and the batch processor's defaults, exporting to an OTLP/HTTP receiver
in this process that decodes every request (tests.fakes.otlp), so the spans it counts are the
spans that arrived. The side order alternates round by round; the median round of each counts.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import procs, tracing_runs
from bench.report import SummaryRow, ratio, ratio_row
from contracts import subjects
from contracts.envelope import Actor, TraceContext
from contracts.run import RunAdmitted, RunAdmittedPayload, RunRequested, RunRequestedPayload
from devtools import natsserver
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.spans import span
from quarry_runtime.telemetry import configure

TARGET_RATIO = 0.9  # traced throughput / untraced, at least: tracing costs at most 10%
SPANS_PER_MESSAGE = 5
BATCH = 16
SIDE_TIMEOUT_S = 300
WARM_UP = 200  # messages before the timed burst, each side


def run(console: Console, messages: int = 2000, rounds: int = 3, runs: int = 15) -> list[SummaryRow]:
    console.rule("[bold]Tracing: the same paths untraced and exported over OTLP (sampler 100%)")
    from tests.fakes.otlp import serve  # the receiver is the tests' own: a real OTLP/HTTP server

    rates: dict[str, list[float]] = {"off": [], "on": []}
    with serve() as (receiver, endpoint):
        for n in range(rounds):
            for side in ("off", "on") if n % 2 == 0 else ("on", "off"):
                rates[side].append(_side(side, messages, endpoint))
        made = (messages + WARM_UP) * rounds * SPANS_PER_MESSAGE
        exported = receiver.span_count()
        # Off, on, on, off: a machine growing busier or quieter during the bench weighs on both alike.
        waves = {"off": {"OTEL_TRACES_EXPORTER": "none"}, "on": _exporting(endpoint)}
        sides = [tracing_runs.wave(console, side, runs, waves[side]) for side in ("off", "on", "on", "off")]
        untraced, traced = tracing_runs.combined(sides[0], sides[3]), tracing_runs.combined(sides[1], sides[2])
        run_spans = receiver.span_count() - exported
    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    table = Table(
        title=f"bus path: burst of {messages} messages, {rounds} alternating rounds each", title_justify="left"
    )
    for head in ("tracing", "msgs/s (median)", "rounds"):
        table.add_column(head, justify="left" if head == "tracing" else "right")
    table.add_row("off (no exporter)", f"{off:.0f}", " ".join(f"{r:.0f}" for r in rates["off"]))
    table.add_row("on (otlp, sampler 100%)", f"{on:.0f}", " ".join(f"{r:.0f}" for r in rates["on"]))
    table.add_row("ratio on/off", f"{ratio(on, off):.2f}x", "")
    console.print(table)
    console.print(
        f"spans received by the OTLP receiver: {exported} of the {made} the traced rounds made (warm-up included)"
    )
    runs_table = Table(
        title=f"whole runs: two waves of {runs} runs at once per side (off, on, on, off), a stack each",
        title_justify="left",
    )
    for head in ("tracing", "drain s", "runs/s", "service CPU s", "CPU s per run"):
        runs_table.add_column(head, justify="left" if head == "tracing" else "right")
    for label, wave in (("off (no exporter)", untraced), ("on (otlp, sampler 100%)", traced)):
        runs_table.add_row(
            label, f"{wave.drain_s:.1f}", f"{wave.runs_per_s:.3f}", f"{wave.cpu_s:.1f}", f"{wave.cpu_per_run_s:.2f}"
        )
    cpu_ratio = ratio(untraced.cpu_per_run_s, traced.cpu_per_run_s)
    wall_ratio = ratio(traced.runs_per_s, untraced.runs_per_s)
    runs_table.add_row("ratio on/off (throughput)", f"{wall_ratio:.2f}x", "", "", f"{cpu_ratio:.2f}x")
    console.print(runs_table)
    per_process = Table(title="CPU seconds per run, by service", title_justify="left")
    for head in ("service", "off", "on", "on - off"):
        per_process.add_column(head, justify="left" if head == "service" else "right")
    for name in sorted(untraced.cpu_by_process):
        before = untraced.cpu_by_process[name] / untraced.runs
        after = traced.cpu_by_process.get(name, 0.0) / traced.runs
        per_process.add_row(name, f"{before:.3f}", f"{after:.3f}", f"{after - before:+.3f}")
    console.print(per_process)
    console.print(f"spans received for the traced stack (warm-up run included): {run_spans}")
    return [
        SummaryRow("tracing", "bus msgs/s off / on", f"{off:.0f} / {on:.0f}"),
        ratio_row("tracing", "bus path throughput traced/untraced", ratio(on, off)),
        SummaryRow("tracing", "bus spans exported / made", f"{exported} / {made}"),
        ratio_row("tracing", "runs/s traced/untraced (wall clock)", wall_ratio),
        ratio_row("tracing", "run throughput traced/untraced (CPU per run)", cpu_ratio, at_least=TARGET_RATIO),
        SummaryRow("tracing", "spans per traced run", f"{run_spans / (2 * (runs + 1)):.0f}"),
    ]


def _exporting(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "1",
    }


def _side(side: str, messages: int, endpoint: str) -> float:
    """One round of one side in a process of its own, on a nats-server of its own; its msgs/s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if side == "on":
        env |= _exporting(endpoint)
    with tempfile.TemporaryDirectory(prefix="quarry-bench-tracing-") as tmp:
        server, url = natsserver.start(Path(tmp) / "nats", log_file=Path(tmp) / "nats.log")
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bench.tracing", url, str(messages)],
                env=env,
                capture_output=True,
                text=True,
                timeout=SIDE_TIMEOUT_S,
                check=True,
            )
        finally:
            procs.stop_process(server)
    line = next(line for line in out.stdout.splitlines() if line.startswith("{"))
    rate: float = json.loads(line)["rate"]
    return rate


async def _burst(url: str, messages: int) -> float:
    bus = Bus(url, "bench")
    wave = Wave()

    async def on_requested(event: RunRequested) -> None:
        with span("bench admit", {"quarry.bench.step": "admit"}):
            reaction = RunAdmitted.caused_by(event, RunAdmittedPayload(credits_reserved=1))
        await bus.publish(reaction)

    async def on_admitted(_: RunAdmitted) -> None:
        wave.got()

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, "bench-trace-requested", on_requested, batch=BATCH))
    bus.subscribe(Subscription(subjects.RUN_ADMITTED, "bench-trace-admitted", on_admitted, batch=BATCH))
    await bus.start()
    try:
        await wave.run(bus, runs(0, WARM_UP))  # connections, caches and the exporter's first batches
        return await wave.run(bus, runs(WARM_UP, messages))
    finally:
        await bus.stop()


def runs(first: int, n: int) -> list[RunRequested]:
    """Each message a run of its own, with its own sampled trace, as the gateway starts one."""
    payload = RunRequestedPayload(question="How does the with statement work?", depth=1, max_sources=1)
    actor = Actor(user_id="u-bench", roles=["owner"])
    return [
        RunRequested.create(
            payload,
            tenant_id="t-bench",
            run_id=f"r-{first + i}",
            actor=actor,
            trace=TraceContext(traceparent=f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"),
        )
        for i in range(n)
    ]


class Wave:
    """Publishes a list of events back to back; their rate, first publish to last reaction."""

    def __init__(self) -> None:
        self.left = 0
        self.last = 0.0
        self.done = asyncio.Event()

    def got(self) -> None:
        self.left -= 1
        self.last = time.perf_counter()
        if self.left == 0:
            self.done.set()

    async def run(self, bus: Bus, events: list[RunRequested]) -> float:
        self.left, self.done = len(events), asyncio.Event()
        started = time.perf_counter()
        for event in events:
            await bus.publish(event)
        await asyncio.wait_for(self.done.wait(), SIDE_TIMEOUT_S / 2)
        return len(events) / (self.last - started)


def main(url: str, messages: int) -> None:
    configure("bench", "WARNING")  # as a service does: OTEL_* decide whether spans are recorded
    rate = asyncio.run(_burst(url, messages))
    print(json.dumps({"rate": rate}), flush=True)
    # The tracer provider's shutdown at exit flushes what the batch processor still holds.


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
