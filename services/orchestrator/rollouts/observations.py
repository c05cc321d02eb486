"""Every finished run of a rollout so far, with the guards' sequences kept current. Pure.

A look needs each version's confidence sequences over all of its runs, and rebuilding them at
every look costs the whole history each time. `Observations` takes the runs as they finish (in
that order: the sequences' bets depend on it) and keeps the sequences, counts and tenants up to
date, so a look costs what arrived since the last one. Built again from the stored outcomes
after a restart, it gives the same intervals: they are a function of the ordered outcomes alone.

A run's cost comes apart from its outcome (billing settles it after the run ends): `add_cost`
feeds the cost guard's sequences in the order the costs were recorded, which is all they
depend on, so outcomes and costs may be folded in any interleaving.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.orchestrator.rollouts.assignment import Arm
from services.orchestrator.rollouts.guards import GuardBoard, GuardReading, GuardSettings, RunOutcome


@dataclass(frozen=True)
class ArmCounts:
    runs: int
    tenants: int
    runs_in_stage: int
    tenants_in_stage: int
    last_run_at: datetime | None


class Observations:
    def __init__(self, settings: GuardSettings, outcomes: Iterable[RunOutcome] = ()) -> None:
        self._board = GuardBoard(settings)
        self._outcomes: list[RunOutcome] = []
        self._tenants: dict[Arm, set[str]] = {"candidate": set(), "stable": set()}
        self._runs: dict[Arm, int] = {"candidate": 0, "stable": 0}
        self._last: dict[Arm, datetime | None] = {"candidate": None, "stable": None}
        self.extend(outcomes)

    def add(self, outcome: RunOutcome) -> None:
        if self._outcomes and outcome.finished_at < self._outcomes[-1].finished_at:
            raise ValueError("outcomes come in the order their runs finished")
        self._outcomes.append(outcome)
        self._board.add(outcome)
        self._runs[outcome.arm] += 1
        self._tenants[outcome.arm].add(outcome.tenant_id)
        self._last[outcome.arm] = outcome.finished_at

    def extend(self, outcomes: Iterable[RunOutcome]) -> None:
        for outcome in outcomes:
            self.add(outcome)

    def add_costs(self, costs: Iterable[tuple[Arm, float]]) -> None:
        """Runs' costs, known after their outcomes, in the order they became known."""
        for arm, cost in costs:
            self._board.add_cost(arm, cost)

    def since(self, at: datetime) -> Sequence[RunOutcome]:
        """The runs that finished at or after `at` (a stage's own)."""
        return self._outcomes[bisect.bisect_left(self._outcomes, at, key=lambda o: o.finished_at) :]

    def counts(self, arm: Arm, in_stage: Sequence[RunOutcome]) -> ArmCounts:
        staged = [o for o in in_stage if o.arm == arm]
        return ArmCounts(
            runs=self._runs[arm],
            tenants=len(self._tenants[arm]),
            runs_in_stage=len(staged),
            tenants_in_stage=len({o.tenant_id for o in staged}),
            last_run_at=self._last[arm],
        )

    def readings(self) -> list[GuardReading]:
        return self._board.readings()
