"""Tracing's cost on whole runs: the same wave of research runs on a stack with tracing off and on
a stack exporting every span over OTLP (sampler 100%), one after the other in the same bench.

Each side is a stack of its own (SQLite, its own nats-server, no supervisor), started with
`OTEL_TRACES_EXPORTER=none` or with `otlp` to the bench's OTLP/HTTP receiver and
`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG=1`. One run warms it up
(the retriever's first search loads its index); then `runs` runs are requested at once over new
tenants and polled until every one is completed with its costs closed. Each side runs twice, in the
order off, on, on, off, and its two waves are added up.

Reported per side: the wave's drain time (runs/s) and the CPU seconds the seven services used for
it (from /proc, as `bench scale` reads them). On two cores shared with other work, a wave's wall
time swings more than tracing costs, so the target holds the CPU figure: the throughput a
CPU-bound deployment keeps is the inverse of its CPU per run. The wall-clock ratio is printed beside it.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bench.report import timed_step
from bench.sampling import ProcessSampler
from bench.scale_load import Drain, drive, sign_up
from devtools import natsserver
from devtools.stack import Stack, StackConfig
from services.billing.plans import DEFAULT_PLAN, PLANS

BUDGET_S = 1200.0


@dataclass(frozen=True)
class Side:
    runs: int
    drain_s: float
    cpu_by_process: dict[str, float]  # each service's CPU seconds over the wave

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_by_process.values())

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.drain_s

    @property
    def cpu_per_run_s(self) -> float:
        return self.cpu_s / self.runs


def combined(first: Side, second: Side) -> Side:
    """Two waves of one side as one: their runs, time and CPU added."""
    names = first.cpu_by_process.keys() | second.cpu_by_process.keys()
    cpu = {name: first.cpu_by_process.get(name, 0.0) + second.cpu_by_process.get(name, 0.0) for name in names}
    return Side(first.runs + second.runs, first.drain_s + second.drain_s, cpu)


def wave(console: Console, label: str, runs: int, otel: dict[str, str]) -> Side:
    """Start a stack with these OTEL_* variables, warm it with one run, then time a wave of `runs`."""
    per_tenant = PLANS[DEFAULT_PLAN].concurrency
    data = Path(tempfile.mkdtemp(prefix=f"quarry-bench-tracing-{label}-"))
    config = StackConfig(data_dir=data, http_port=natsserver.free_port(), restart=False, extra_env=otel)
    stack = Stack(config)
    try:
        timed_step(console, f"tracing {label}: starting the stack...")
        stack.start()
        stack.wait_healthy(timeout_s=240)
        base_url = f"http://127.0.0.1:{config.http_port}"
        asyncio.run(drive(base_url, sign_up(base_url, 1, f"trace-{label}-warm-"), 1, per_tenant, BUDGET_S))
        tenants = sign_up(base_url, math.ceil(runs / per_tenant), f"trace-{label}-")
        time.sleep(1.0)  # the sign-ups' events settle before the wave's figures start
        pids = {name: p.popen.pid for name, p in stack.procs.items()}
        with ProcessSampler(pids) as sampler:
            sampler.mark()
            timed_step(console, f"tracing {label}: {runs} runs at once...")
            drain: Drain = asyncio.run(drive(base_url, tenants, runs, per_tenant, BUDGET_S))
            cpu = {name: footprint.cpu_s for name, footprint in sampler.phase().items()}
        dead = {name: p.popen.returncode for name, p in stack.procs.items() if p.popen.poll() is not None}
        if dead:
            raise RuntimeError(f"services exited during the tracing bench: {dead}")
        return Side(runs, drain.drain_s, cpu)
    finally:
        stack.stop()
        shutil.rmtree(data, ignore_errors=True)
