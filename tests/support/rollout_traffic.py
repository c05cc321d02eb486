"""Seeded traffic for the rollout tests: runs of tenants, each on the version its rollout assigns."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.orchestrator.rollouts.assignment import Assignment
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.rollouts.guards import RunOutcome
from services.orchestrator.rollouts.observations import Observations

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
STABLE = "5" * 64
CANDIDATE = "c" * 64


def spec(**changes: Any) -> dict[str, Any]:
    """A rollout spec in its JSON form (contracts.rollouts.RolloutSpec's dump), with changes."""
    base: dict[str, Any] = {
        "component": "planner",
        "candidate": CANDIDATE,
        "stages": [5, 25, 50, 100],
        "min_runs_per_stage": 50,
        "min_tenants_per_stage": 3,
        "min_dwell_s": 600,
        "starved_after_s": 3600,
    }
    return base | changes


@dataclass(frozen=True)
class Behaviour:
    """How one version's runs turn out: the fault rate and how slow and costly they are."""

    fail_rate: float = 0.02
    duration_scale: float = 1.0
    cost_scale: float = 1.0

    def outcome(self, rng: random.Random, assignment: Assignment, tenant_id: str, at: datetime) -> RunOutcome:
        failed = rng.random() < self.fail_rate
        return RunOutcome(
            arm=assignment.arm,
            tenant_id=tenant_id,
            finished_at=at,
            completed=not failed,
            errored=failed,
            duration_s=rng.lognormvariate(3.4, 0.25) * self.duration_scale,
            cost=min(100.0, rng.gammavariate(4.0, 2.5) * self.cost_scale),
            citation_support=None if failed else rng.betavariate(18, 2),
            basis=assignment.basis,
        )


@dataclass
class Traffic:
    rollout: Rollout
    candidate: Behaviour
    stable: Behaviour = field(default_factory=Behaviour)
    seed: int = 0
    tenants: int = 3000
    now: datetime = START
    outcomes: list[RunOutcome] = field(default_factory=list)
    # Kept current as runs finish when given (what a long-lived evaluator does between looks).
    observations: Observations | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tenant_ids = [f"tenant-{i}" for i in range(self.tenants)]

    def run(self, runs: int, gap_s: float = 2.0) -> None:
        """`runs` runs of random tenants, one every `gap_s` seconds, on their assigned versions."""
        for _ in range(runs):
            self.now += timedelta(seconds=gap_s)
            tenant = self.rng.choice(self.tenant_ids)
            assignment = self.rollout.arm_of(tenant, "pro")
            behaviour = self.candidate if assignment.arm == "candidate" else self.stable
            outcome = behaviour.outcome(self.rng, assignment, tenant, self.now)
            self.outcomes.append(outcome)
            if self.observations is not None:
                self.observations.add(outcome)

    def runs_of(self, arm: str) -> int:
        return sum(o.arm == arm for o in self.outcomes)


def started(rollout_spec: dict[str, Any] | None = None) -> Rollout:
    return Rollout.start(
        "0190a000-0000-7000-8000-0000000000aa", rollout_spec or spec(), STABLE, START, passed_eval=True
    )
