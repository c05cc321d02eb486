"""Many concurrent runs on the embedded default: time to drain and peak memory per process.

One stack (SQLite, its own nats-server, every service a process, no supervisor: a process that
dies fails the bench rather than being hidden by a restart) takes two waves of runs, each
requested all at once and spread over new tenants on the default plan so no tenant's cap
refuses one: first the baseline (20 runs), then the load (200). Each wave must end with every
run completed and every run's credits settled to the credit, within a fixed budget; otherwise
the bench fails, saying which runs were stuck where, and keeps the stack's logs; it fails sooner
when no run has moved for five minutes.

Reported per wave: time to drain (the first request to the last run seen terminal; runs are
polled once a second, so a run's end is known to about a second), runs/s, p50/p95 run latency
(its request to its end), and per process the RSS when the wave began and the largest RSS
sampled (every 0.25 s) during it, and its CPU seconds per run. The ratios divide the load by the
baseline: drain time per run (1.0 means it scales linearly; below 1 the platform overlaps runs
better at load) and memory growth.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.report import Latency, SummaryRow, ratio, timed_step
from bench.sampling import Footprint, ProcessSampler
from bench.scale_load import Drain, NotDrained, drive, sign_up
from devtools import natsserver
from devtools.stack import Stack, StackConfig
from services.billing.plans import DEFAULT_PLAN, PLANS

# Per wave. 200 runs drained in 968 and 979 s on two cores shared with other suites, whose load
# moved the 20-run baseline from 143 to 227 s: room for a busier machine. A stall fails the wave
# long before (scale_load.STALL_S).
BUDGET_S = 2700.0


@dataclass
class Wave:
    runs: int
    drain: Drain
    memory: dict[str, Footprint]

    @property
    def latency(self) -> Latency:
        return Latency.of([run.latency_s * 1000 for run in self.drain.runs])

    @property
    def per_run_s(self) -> float:
        return self.drain.drain_s / self.runs


def run(console: Console, runs: int = 200, baseline_runs: int = 20, budget_s: float = BUDGET_S) -> list[SummaryRow]:
    console.rule(f"[bold]Scale: {runs} concurrent runs (baseline {baseline_runs})")
    per_tenant = PLANS[DEFAULT_PLAN].concurrency
    data = Path(tempfile.mkdtemp(prefix="quarry-bench-scale-"))
    config = StackConfig(data_dir=data, http_port=natsserver.free_port(), restart=False)
    stack = Stack(config)
    kept = False
    try:
        started = time.monotonic()
        with console.status("starting nats-server and the seven services..."):
            stack.start()
            stack.wait_healthy(timeout_s=240)
        console.print(f"stack healthy after {time.monotonic() - started:.1f}s (SQLite, its own nats-server)")
        base_url = f"http://127.0.0.1:{config.http_port}"
        pids = {name: p.popen.pid for name, p in stack.procs.items()}
        if stack.nats is not None:
            pids["nats-server"] = stack.nats.pid
        waves: list[Wave] = []
        with ProcessSampler(pids) as sampler:
            for label, n in (("baseline", baseline_runs), ("load", runs)):
                tenants = sign_up(base_url, math.ceil(n / per_tenant), f"scale-{label}-")
                time.sleep(1.0)  # let the sign-ups' events settle, so the wave's figures are the wave's
                sampler.mark()
                timed_step(console, f"{label}: {n} runs at once over {len(tenants)} tenants ({per_tenant} each)...")
                try:
                    drain = asyncio.run(drive(base_url, tenants, n, per_tenant, budget_s))
                except NotDrained:
                    _dead(stack)
                    raise
                waves.append(Wave(n, drain, sampler.phase()))
                console.print(
                    f"  {n} runs completed, drained in {drain.drain_s:.1f}s, costs closed "
                    f"{drain.settled_at - drain.ended_at:.1f}s later"
                )
        _dead(stack)
    except BaseException:
        kept = True
        console.print(f"[red]scale bench failed; the stack's data and logs are kept in {data}[/red]")
        raise
    finally:
        with console.status("stopping every process..."):
            stack.stop()
        if not kept:
            shutil.rmtree(data, ignore_errors=True)
    return _report(console, waves[0], waves[1], list(pids))


def _dead(stack: Stack) -> None:
    """Fail when a service died during the wave: the bench runs without the supervisor."""
    dead = {name: p.popen.returncode for name, p in stack.procs.items() if p.popen.poll() is not None}
    if dead:
        raise NotDrained(f"services exited during the bench: {dead}")


def _report(console: Console, base: Wave, load: Wave, names: Sequence[str]) -> list[SummaryRow]:
    waves = Table(title="waves: every run requested at once, polled until terminal", title_justify="left")
    for head in ("wave", "runs", "drain s", "runs/s", "s per run", "p50 s", "p95 s", "max s", "costs closed +s"):
        waves.add_column(head, justify="left" if head == "wave" else "right")
    for label, wave in (("baseline", base), ("load", load)):
        lat = wave.latency
        waves.add_row(
            label,
            str(wave.runs),
            f"{wave.drain.drain_s:.1f}",
            f"{wave.runs / wave.drain.drain_s:.2f}",
            f"{wave.per_run_s:.3f}",
            f"{lat.p50 / 1000:.1f}",
            f"{lat.p95 / 1000:.1f}",
            f"{lat.max / 1000:.1f}",
            f"{wave.drain.settled_at - wave.drain.ended_at:.1f}",
        )
    waves.add_row(
        "  load/baseline (x)",
        f"{load.runs / base.runs:.0f}",
        f"{ratio(load.drain.drain_s, base.drain.drain_s):.2f}",
        "",
        f"{ratio(load.per_run_s, base.per_run_s):.2f}",
        f"{ratio(load.latency.p50, base.latency.p50):.2f}",
        f"{ratio(load.latency.p95, base.latency.p95):.2f}",
        "",
        "",
    )
    console.print(waves)

    memory = Table(
        title="per process: RSS (MiB) at the wave's start and its sampled peak; CPU s per run", title_justify="left"
    )
    heads = ("process", "baseline start", "baseline peak", "load start", "load peak", "load growth", "growth x")
    for head in (*heads, "CPU s/run baseline", "CPU s/run load"):
        memory.add_column(head, justify="left" if head == "process" else "right")
    total_peak = cpu_base = cpu_load = 0.0
    for name in names:
        b, g = base.memory.get(name), load.memory.get(name)
        if b is None or g is None:
            memory.add_row(name, "gone", "", "", "", "", "", "", "")
            continue
        total_peak += g.peak_mib
        cpu_base += b.cpu_s
        cpu_load += g.cpu_s
        memory.add_row(
            name,
            f"{b.start_mib:.0f}",
            f"{b.peak_mib:.0f}",
            f"{g.start_mib:.0f}",
            f"{g.peak_mib:.0f}",
            f"{g.growth_mib:+.0f}",
            _growth_ratio(g, b),
            f"{b.cpu_s / base.runs:.3f}",
            f"{g.cpu_s / load.runs:.3f}",
        )
    memory.add_row(
        "[bold]all[/bold]",
        "",
        "",
        "",
        f"{total_peak:.0f}",
        "",
        "",
        f"{cpu_base / base.runs:.3f}",
        f"{cpu_load / load.runs:.3f}",
    )
    console.print(memory)
    console.print(
        "growth x = the load wave's growth over the baseline wave's (each over its own start); a figure "
        "near 1 means memory does not grow with the number of runs in flight. CPU s/run: the wave's CPU "
        "seconds (user + system) over its runs, the bench's own polling of the gateway included."
    )

    tag = f"{load.runs} runs"
    peaks = ", ".join(f"{name} {load.memory[name].peak_mib:.0f}" for name in names if name in load.memory)
    lat = load.latency
    return [
        SummaryRow(
            "scale", f"drain s, {tag} / {base.runs} runs", f"{load.drain.drain_s:.1f} / {base.drain.drain_s:.1f}"
        ),
        SummaryRow("scale", f"runs/s, {tag}", f"{load.runs / load.drain.drain_s:.2f}"),
        SummaryRow("scale", f"run latency p50/p95 s, {tag}", f"{lat.p50 / 1000:.1f} / {lat.p95 / 1000:.1f}"),
        SummaryRow(
            "scale",
            f"drain s per run, {tag} / {base.runs} runs",
            f"{ratio(load.per_run_s, base.per_run_s):.2f}x",
        ),
        SummaryRow(
            "scale",
            f"completed, {tag}",
            f"{load.drain.states['completed']} of {load.runs}",
            "all",
            "[green]met[/green]",
        ),
        SummaryRow("scale", f"peak RSS MiB, {tag}", peaks),
        SummaryRow("scale", f"peak RSS MiB, sum of processes, {tag}", f"{total_peak:.0f}"),
        SummaryRow(
            "scale",
            f"CPU s per run, all processes, {tag} / {base.runs} runs",
            f"{cpu_load / load.runs:.2f} / {cpu_base / base.runs:.2f}",
        ),
    ]


def _growth_ratio(load: Footprint, base: Footprint) -> str:
    if base.growth_mib < 1.0:
        return "-"  # under a MiB of growth at baseline, a ratio would only show sampling noise
    return f"{load.growth_mib / base.growth_mib:.1f}"
