"""The scale bench's own code, at a few runs, so `make bench` cannot rot unnoticed."""

from __future__ import annotations

import pytest
from rich.console import Console

from bench import scale

pytestmark = [pytest.mark.e2e, pytest.mark.infra]


def test_the_scale_bench_drains_its_waves_and_reports_each_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bench's stack runs in development, as `python -m bench` says for it.
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "development")
    console = Console(record=True, width=160)
    rows = scale.run(console, runs=6, baseline_runs=2, budget_s=240)

    by_metric = {row.metric: row.value for row in rows}
    assert by_metric["completed, 6 runs"] == "6 of 6"
    drain_load, drain_base = (float(v) for v in by_metric["drain s, 6 runs / 2 runs"].split(" / "))
    assert drain_base > 0 and 0 < drain_load < 240
    peaks = dict(part.rsplit(" ", 1) for part in by_metric["peak RSS MiB, 6 runs"].split(", "))
    # Every service and the broker were sampled, each with a resident set a live process has.
    assert set(peaks) == {
        "policy",
        "billing",
        "orchestrator",
        "retriever",
        "analyst",
        "reporter",
        "gateway",
        "nats-server",
    }
    assert all(float(mib) > 5 for mib in peaks.values()), peaks
    cpu_load, cpu_base = (float(v) for v in by_metric["CPU s per run, all processes, 6 runs / 2 runs"].split(" / "))
    assert cpu_load > 0 and cpu_base > 0, "the services' CPU time was read from /proc"
    text = console.export_text()
    assert "load/baseline (x)" in text and "per process: RSS" in text and "CPU s/run load" in text
