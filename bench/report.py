"""Percentiles, the rows of the final summary, and the rich tables the benchmarks print."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Latency:
    """Percentiles of one series of latencies, in milliseconds."""

    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        if not samples_ms:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        if len(samples_ms) == 1:
            only = samples_ms[0]
            return cls(1, only, only, only, only, only)
        cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
        return cls(len(samples_ms), cuts[49], cuts[94], cuts[98], statistics.fmean(samples_ms), max(samples_ms))


@dataclass(frozen=True)
class SummaryRow:
    """One line of the final table: a figure, the target it is held against, and a verdict."""

    benchmark: str
    metric: str
    value: str
    target: str = ""
    verdict: str = ""


def ms(value: float) -> str:
    return f"{value:.2f}"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else float("nan")


def verdict(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def ratio_row(
    benchmark: str, metric: str, value: float, *, at_most: float | None = None, at_least: float | None = None
) -> SummaryRow:
    """A ratio held against its target: `at_most` for a latency, `at_least` for a throughput."""
    if at_most is not None:
        return SummaryRow(benchmark, metric, f"{value:.2f}x", f"<= {at_most}x", verdict(value <= at_most))
    if at_least is not None:
        return SummaryRow(benchmark, metric, f"{value:.2f}x", f">= {at_least}x", verdict(value >= at_least))
    return SummaryRow(benchmark, metric, f"{value:.2f}x")


def latency_table(
    title: str, rows: Sequence[tuple[str, Latency, Sequence[str]]], extra_headers: Sequence[str] = ()
) -> Table:
    """One row per series: its percentiles, then any extra cells under `extra_headers`."""
    table = Table(title=title, title_justify="left")
    table.add_column("series")
    for head in ("n", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms", *extra_headers):
        table.add_column(head, justify="right")
    for name, lat, extra in rows:
        table.add_row(name, str(lat.n), ms(lat.p50), ms(lat.p95), ms(lat.p99), ms(lat.mean), ms(lat.max), *extra)
    return table


def ratio_latency(a: Latency, b: Latency) -> Latency:
    """Each percentile of `a` over the same percentile of `b` (a table row of ratios)."""
    return Latency(
        a.n, ratio(a.p50, b.p50), ratio(a.p95, b.p95), ratio(a.p99, b.p99), ratio(a.mean, b.mean), ratio(a.max, b.max)
    )


def print_summary(console: Console, rows: Sequence[SummaryRow]) -> None:
    table = Table(title="Quarry benchmarks: summary", title_justify="left")
    for head in ("benchmark", "metric", "value", "target", "verdict"):
        table.add_column(head, justify="right" if head == "value" else "left")
    for row in rows:
        table.add_row(row.benchmark, row.metric, row.value, row.target, row.verdict)
    console.print(table)


def timed_step(console: Console, what: str) -> None:
    """Say what is being measured, without `console.status`: its spinner is a thread that wakes
    a dozen times a second and takes the GIL from the code being timed (a group commit, CPU
    bound, measured half again slower under it than a one-commit-per-event baseline that mostly
    waits on fsync with the GIL released)."""
    console.print(f"[dim]{what}[/dim]")
