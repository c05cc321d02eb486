"""Agent version assignment at admission: what choosing each component's version adds to a run's admission.

In process. Four rollouts are live at once (planner, synthesiser, answerer, ranker, each at
25%), each pinning and excluding 1,000 tenants, so a lookup misses or hits sets of realistic
size. Admission holds each rollout's `Assigner` (rebuilt only when a rollout changes) and asks it
the version of every component for the run's tenant: a SHA-256, a pin and exclusion lookup each.

* baseline: the admission's own parse of the request (`parse_event` of a `run.v1.requested`
  envelope), the one step every admission takes in process;
* with assignment: the same parse, then the four versions chosen;
* assignment alone, and the rebuild of one `Assigner` from its Rollout, for reference.

Each sample is one admission of a fresh tenant id; series alternate in rounds after an uncounted
warm-up. The figure held against its target is the p95 of `with assignment` less the baseline's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console

from bench.report import Latency, SummaryRow, latency_table, verdict
from contracts.registry import parse_event
from contracts.run import RunRequested, RunRequestedPayload
from services.orchestrator.rollouts.assignment import Assigner
from services.orchestrator.rollouts.domain import Rollout

TARGET_ADDED_P95_MS = 1.0
COMPONENTS = ("planner", "synthesiser", "answerer", "ranker")
AUDIENCE_SIZE = 1000


def run(console: Console, admissions: int = 20_000, rounds: int = 5) -> list[SummaryRow]:
    console.rule("[bold]Version assignment at admission: four live rollouts, in process")
    assigners = _assigners()
    request = RunRequested.create(
        RunRequestedPayload(question="How do canary releases limit the blast radius?", depth=2, max_sources=8),
        tenant_id="bench-tenant",
    ).to_bytes()

    def baseline(tenant_id: str) -> object:
        return parse_event(request)

    def with_assignment(tenant_id: str) -> object:
        parse_event(request)
        return {component: a.version(tenant_id, "pro") for component, a in assigners.items()}

    def assignment_alone(tenant_id: str) -> object:
        return {component: a.version(tenant_id, "pro") for component, a in assigners.items()}

    rollout = _rollout("planner")
    series: dict[str, Callable[[str], object]] = {
        "baseline: parse the request": baseline,
        "with assignment: parse, then 4 versions": with_assignment,
        "assignment alone: 4 versions": assignment_alone,
        "rebuild one Assigner (on a rollout change)": lambda _t: rollout.assigner(),
    }
    samples: dict[str, list[float]] = {name: [] for name in series}
    per_round = max(1, admissions // rounds)
    for step in series.values():  # warm-up, not counted
        _time(step, per_round // 10 or 1)
    for _ in range(rounds):
        for name, step in series.items():
            samples[name] += _time(step, per_round)
    latencies = {name: Latency.of(values) for name, values in samples.items()}
    console.print(
        latency_table(
            f"one admission, {per_round * rounds} per series ({rounds} alternating rounds), a fresh tenant each",
            [(name, lat, []) for name, lat in latencies.items()],
        )
    )
    base, both = latencies["baseline: parse the request"], latencies["with assignment: parse, then 4 versions"]
    added = both.p95 - base.p95
    alone = latencies["assignment alone: 4 versions"]
    console.print(
        f"assignment adds {added * 1000:.1f} µs to an admission at p95 (alone: p95 {alone.p95 * 1000:.1f} µs)"
    )
    return [
        SummaryRow("assignment", "baseline admission parse p95", f"{base.p95:.4f} ms"),
        SummaryRow("assignment", "assignment alone p95", f"{alone.p95:.4f} ms", f"<= {TARGET_ADDED_P95_MS} ms"),
        SummaryRow(
            "assignment",
            "added to admission p95",
            f"{added:.4f} ms",
            f"<= {TARGET_ADDED_P95_MS} ms",
            verdict(added <= TARGET_ADDED_P95_MS and alone.p95 <= TARGET_ADDED_P95_MS),
        ),
    ]


def _time(step: Callable[[str], object], n: int) -> list[float]:
    tenants = [str(uuid.uuid4()) for _ in range(n)]
    found = []
    for tenant_id in tenants:
        started = time.perf_counter_ns()
        step(tenant_id)
        found.append((time.perf_counter_ns() - started) / 1e6)
    return found


def _rollout(component: str) -> Rollout:
    pinned = {str(uuid.uuid4()): "candidate" for _ in range(AUDIENCE_SIZE)}
    spec = {
        "component": component,
        "candidate": "c" * 64,
        "stages": [25, 50, 100],
        "audience": {
            "pinned": pinned,
            "excluded_tenants": [str(uuid.uuid4()) for _ in range(AUDIENCE_SIZE)],
            "excluded_tiers": ["enterprise"],
        },
    }
    return Rollout.start(str(uuid.uuid4()), spec, "5" * 64, datetime.now(UTC), passed_eval=True)


def _assigners() -> dict[str, Assigner]:
    return {component: _rollout(component).assigner() for component in COMPONENTS}
