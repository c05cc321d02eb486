"""python -m bench [admission|bus|demo|eventstore|policy|scale|web ...]: run the benchmarks (all of them when none is named)."""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console

from bench import admission, billing_meter, bus_hop, demo_run, eventstore, policy, retrieval, scale, web
from bench.report import SummaryRow, print_summary

BENCHMARKS = ("admission", "bus", "demo", "eventstore", "policy", "billing", "retrieval", "scale", "web")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "which",
        nargs="*",
        metavar="{admission,bus,demo,eventstore,policy,billing,retrieval,scale,web}",
        help="which benchmarks (default: all)",
    )
    parser.add_argument("--requests", type=int, default=1000, help="admission: timed requests per target")
    parser.add_argument("--concurrency", type=int, default=50, help="admission: concurrent clients")
    parser.add_argument("--single", type=int, default=200, help="admission: timed requests per target, 1 client")
    parser.add_argument("--hops", type=int, default=2000, help="bus: timed sequential hops per side")
    parser.add_argument("--burst", type=int, default=2000, help="bus: messages in the burst per side")
    parser.add_argument("--runs", type=int, default=300, help="eventstore: runs replayed")
    parser.add_argument("--appends", type=int, default=10_000, help="eventstore: domain events appended per way")
    parser.add_argument(
        "--events", type=int, default=100_000, help="eventstore: envelopes the read models are built from"
    )
    parser.add_argument(
        "--live-events", type=int, default=10_000, help="eventstore: envelopes timed through record_run_event"
    )
    parser.add_argument("--decisions", type=int, default=20_000, help="policy: in-process decisions per series")
    parser.add_argument("--policy-hops", type=int, default=2000, help="policy: sequential requests over the bus")
    parser.add_argument("--policy-burst", type=int, default=5000, help="policy: requests in the burst")
    parser.add_argument("--usage-events", type=int, default=3000, help="billing: usage events metered")
    parser.add_argument("--retrieval-chunks", type=int, default=100_000, help="retrieval: chunks ingested per side")
    parser.add_argument("--retrieval-searches", type=int, default=10, help="retrieval: timed searches per side")
    parser.add_argument("--scale-runs", type=int, default=200, help="scale: concurrent runs in the load wave")
    parser.add_argument("--scale-baseline", type=int, default=20, help="scale: concurrent runs in the baseline wave")
    parser.add_argument(
        "--scale-budget", type=float, default=scale.BUDGET_S, help="scale: seconds each wave may take to drain"
    )
    parser.add_argument("--web-loads", type=int, default=5, help="web: cold loads of each page")
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
        "bus": lambda: bus_hop.run(console, hops=args.hops, burst=args.burst),
        "demo": lambda: demo_run.run(console),
        "eventstore": lambda: eventstore.run(
            console, runs=args.runs, appends=args.appends, events=args.events, live_events=args.live_events
        ),
        "policy": lambda: policy.run(console, decisions=args.decisions, hops=args.policy_hops, burst=args.policy_burst),
        "billing": lambda: billing_meter.run(console, events=args.usage_events),
        "retrieval": lambda: retrieval.run(console, chunks=args.retrieval_chunks, searches=args.retrieval_searches),
        "scale": lambda: scale.run(
            console, runs=args.scale_runs, baseline_runs=args.scale_baseline, budget_s=args.scale_budget
        ),
        "web": lambda: web.run(console, loads=args.web_loads),
    }
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
