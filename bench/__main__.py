"""python -m bench [admission|analysis|assignment|bus|demo|eventstore|ops|policy|scale|tracing|web ...]: run the benchmarks (all of them when none is named)."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console

from bench import (
    admission,
    analysis,
    assignment,
    billing_meter,
    bus_hop,
    demo_run,
    eventstore,
    ops_events,
    policy,
    retrieval,
    scale,
    tracing,
    web,
)
from bench.report import SummaryRow, print_summary
from quarry_runtime.service import freeze_startup_heap

BENCHMARKS = (
    "admission",
    "analysis",
    "assignment",
    "bus",
    "demo",
    "eventstore",
    "ops",
    "policy",
    "billing",
    "retrieval",
    "scale",
    "tracing",
    "web",
)

# Each benchmark's knobs: flag, default (its type is the option's) and help.
OPTIONS: tuple[tuple[str, float, str], ...] = (
    ("--requests", 3000, "admission: timed requests per target, 50 clients"),
    ("--concurrency", 50, "admission: concurrent clients"),
    ("--single", 200, "admission: timed requests per target, 1 client"),
    ("--admissions", 20_000, "assignment: timed admissions per series"),
    ("--hops", 2000, "bus: timed sequential hops per side"),
    ("--burst", 2000, "bus: messages in the burst per side"),
    ("--runs", 300, "eventstore: runs replayed"),
    ("--appends", 10_000, "eventstore: domain events appended per way"),
    ("--events", 100_000, "eventstore: envelopes the read models are built from"),
    ("--live-events", 10_000, "eventstore: envelopes timed through record_run_event"),
    ("--ops-events", 1_000_000, "ops: events stored in the stream the event browser reads"),
    ("--decisions", 20_000, "policy: in-process decisions per series"),
    ("--policy-hops", 2000, "policy: sequential requests over the bus"),
    ("--policy-burst", 5000, "policy: requests in the burst"),
    ("--usage-events", 3000, "billing: usage events metered"),
    ("--retrieval-chunks", 100_000, "retrieval: chunks ingested per side"),
    ("--retrieval-searches", 10, "retrieval: timed searches per side"),
    ("--scale-runs", 200, "scale: concurrent runs in the load wave"),
    ("--scale-baseline", 20, "scale: concurrent runs in the baseline wave"),
    ("--scale-budget", scale.BUDGET_S, "scale: seconds each wave may take to drain"),
    ("--traced-messages", 2000, "tracing: messages in the burst per side and round"),
    ("--traced-runs", 15, "tracing: runs in each wave (two waves per side)"),
    ("--web-loads", 5, "web: cold loads of each page"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "which",
        nargs="*",
        metavar="{admission,analysis,assignment,bus,demo,eventstore,ops,policy,billing,retrieval,scale,tracing,web}",
        help="which benchmarks (default: all)",
    )
    for flag, default, text in OPTIONS:
        parser.add_argument(flag, type=type(default), default=default, help=text)
    args = parser.parse_args(argv)
    # An unset environment is production, which refuses the development secrets the bench runs with.
    os.environ.setdefault("QUARRY_ENVIRONMENT", "development")
    unknown = [name for name in args.which if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    chosen = args.which or list(BENCHMARKS)
    # SIGTERM (e.g. a CI time-out) unwinds like Ctrl-C, so every `finally` stops what it started.
    signal.signal(signal.SIGTERM, _exit_on_signal)

    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(
        f"[bold]Quarry benchmarks[/bold]: {', '.join(chosen)}; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    runners: dict[str, Callable[[], list[SummaryRow]]] = {
        "admission": lambda: admission.run(
            console, requests=args.requests, concurrency=args.concurrency, single=args.single
        ),
        "analysis": lambda: analysis.run(console),
        "assignment": lambda: assignment.run(console, admissions=args.admissions),
        "bus": lambda: bus_hop.run(console, hops=args.hops, burst=args.burst),
        "demo": lambda: demo_run.run(console),
        "eventstore": lambda: eventstore.run(
            console, runs=args.runs, appends=args.appends, events=args.events, live_events=args.live_events
        ),
        "policy": lambda: policy.run(console, decisions=args.decisions, hops=args.policy_hops, burst=args.policy_burst),
        "ops": lambda: ops_events.run(console, events=args.ops_events),
        "billing": lambda: billing_meter.run(console, events=args.usage_events),
        "retrieval": lambda: retrieval.run(console, chunks=args.retrieval_chunks, searches=args.retrieval_searches),
        "scale": lambda: scale.run(
            console, runs=args.scale_runs, baseline_runs=args.scale_baseline, budget_s=args.scale_budget
        ),
        "tracing": lambda: tracing.run(console, messages=args.traced_messages, runs=args.traced_runs),
        "web": lambda: web.run(console, loads=args.web_loads),
    }
    # The in-process benchmarks run consumers as the services do, and a service freezes its
    # start-up heap before serving (quarry_runtime.service): the same here, for both sides alike.
    freeze_startup_heap()
    rows: list[SummaryRow] = []
    failed: list[str] = []
    started = time.monotonic()
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        try:
            rows.extend(runners[name]())
        except Exception as exc:  # noqa: BLE001 - a broken benchmark is reported; the others still run
            console.print(f"[red]{name} failed: {type(exc).__name__}: {exc}[/red]")
            failed.append(name)
    console.rule()
    print_summary(console, rows)
    console.print(
        f"total {time.monotonic() - started:.0f}s" + (f"; [red]failed: {', '.join(failed)}[/red]" if failed else "")
    )
    return 1 if failed else 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
