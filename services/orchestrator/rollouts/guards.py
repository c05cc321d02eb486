"""Guard metrics per version, from the runs' outcomes, and each guard's verdict. Pure.

Five guards compare the candidate with the stable version: error rate, p95 duration and cost
per run (the candidate may be at most `ratio` times the stable value, plus `slack`), completion
rate and citation support (at least `ratio` times, minus `slack`). Each version's metric has an
always-valid confidence sequence (`sequences`), fed in the order its values become known: a
run's cost may come after its other figures, and after later runs' (`add_cost`). For a guard
where more is worse, it shows

- harm when candidate.lower > ratio * stable.upper + slack: even the best the candidate may be
  is beyond the limit the worst plausible stable value sets;
- no harm when candidate.upper <= ratio * stable.lower + slack: even the worst the candidate
  may be is within the strictest plausible limit;
- inconclusive otherwise (and mirrored where less is worse).

The error budget `alpha` is split evenly over the ten sequences (five guards, two versions), so
with probability at least 1 - alpha every interval covers its version's value at every look of
the rollout at once. Then a guard never shows harm that is not there (a false rollback happens
with probability at most alpha, however often one looks) and never shows no harm that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.orchestrator.rollouts.assignment import Arm, Basis
from services.orchestrator.rollouts.sequences import Bounds, MeanSequence, QuantileSequence

GuardName = Literal["error_rate", "p95_duration", "cost_per_run", "citation_support", "completion_rate"]
Verdict = Literal["harm", "no_harm", "inconclusive"]
GUARDS: tuple[GuardName, ...] = ("error_rate", "p95_duration", "cost_per_run", "citation_support", "completion_rate")
# Guards where more is worse; for the others (completion, citation support) less is worse.
HIGHER_IS_WORSE: frozenset[GuardName] = frozenset({"error_rate", "p95_duration", "cost_per_run"})
SEQUENCES_PER_LOOK = 2 * len(GUARDS)
P95 = 0.95


@dataclass(frozen=True)
class RunOutcome:
    """One finished run of a version, as the guards see it (a shadow run counts as its arm)."""

    arm: Arm
    tenant_id: str
    finished_at: datetime
    completed: bool
    errored: bool
    duration_s: float
    # Credits the run cost; None while unknown (a stored run's comes apart, with billing's
    # settlement: see rollouts.outcomes). The cost guard reads only known costs.
    cost: float | None = None
    citation_support: float | None = None  # share of the report's claims its sources support
    basis: Basis = "bucket"


@dataclass(frozen=True)
class GuardLimit:
    ratio: float
    slack: float = 0.0


def default_limits() -> dict[GuardName, GuardLimit]:
    """The issue's defaults (contracts.rollouts.Guards holds the same)."""
    return {
        "error_rate": GuardLimit(1.1, 0.02),
        "p95_duration": GuardLimit(1.2, 1.0),
        "cost_per_run": GuardLimit(1.3),
        "completion_rate": GuardLimit(0.95, 0.02),
        "citation_support": GuardLimit(0.98, 0.02),
    }


@dataclass(frozen=True)
class GuardSettings:
    limits: dict[GuardName, GuardLimit] = field(default_factory=default_limits)
    alpha: float = 0.05
    cost_ceiling: float = 100.0
    # The guards a look judges: all of them, but for the shadow phase's (rollouts.shadow).
    measured: tuple[GuardName, ...] = GUARDS


class ArmMetrics:
    """One version's confidence sequences, fed its outcomes in the order the runs finished."""

    def __init__(self, settings: GuardSettings) -> None:
        alpha = settings.alpha / SEQUENCES_PER_LOOK
        self._ceiling = settings.cost_ceiling
        self._errors, self._completions = MeanSequence(alpha), MeanSequence(alpha)
        self._support, self._cost = MeanSequence(alpha), MeanSequence(alpha)
        self._durations = QuantileSequence(P95, alpha)

    def add(self, outcome: RunOutcome) -> None:
        self._errors.add(float(outcome.errored))
        self._completions.add(float(outcome.completed))
        if outcome.cost is not None:
            self.add_cost(outcome.cost)
        self._durations.add(max(outcome.duration_s, 0.0))
        if outcome.citation_support is not None:
            self._support.add(min(max(outcome.citation_support, 0.0), 1.0))

    def add_cost(self, cost: float) -> None:
        """One run's cost, known apart from (and possibly after) its outcome."""
        # A cost above the ceiling breaks the bound the interval rests on: count it at the ceiling.
        self._cost.add(min(max(cost, 0.0), self._ceiling) / self._ceiling)

    def bounds(self, guard: GuardName) -> Bounds:
        if guard == "p95_duration":
            return self._durations.bounds()
        if guard == "cost_per_run":
            return self._cost.bounds(scale=self._ceiling)
        sequence = {"error_rate": self._errors, "completion_rate": self._completions, "citation_support": self._support}
        return sequence[guard].bounds()


@dataclass(frozen=True)
class GuardReading:
    """A guard at one look: both versions' intervals and what they show."""

    guard: GuardName
    stable: Bounds
    candidate: Bounds
    verdict: Verdict


def verdict(guard: GuardName, limit: GuardLimit, stable: Bounds, candidate: Bounds) -> Verdict:
    """What the two intervals show about `guard` (see the module docstring)."""
    if guard in HIGHER_IS_WORSE:
        # Every metric here is >= 0: a missing lower bound is 0, a missing upper one unbounded.
        worst_stable = None if stable.upper is None else limit.ratio * stable.upper + limit.slack
        if candidate.lower is not None and worst_stable is not None and candidate.lower > worst_stable:
            return "harm"
        if candidate.upper is not None and candidate.upper <= limit.ratio * (stable.lower or 0.0) + limit.slack:
            return "no_harm"
        return "inconclusive"
    # Completion and citation support are shares: bounds always exist once defined, within [0, 1].
    c_low, c_high = candidate.lower or 0.0, 1.0 if candidate.upper is None else candidate.upper
    s_low, s_high = stable.lower or 0.0, 1.0 if stable.upper is None else stable.upper
    if c_high < limit.ratio * s_low - limit.slack:
        return "harm"
    if c_low >= limit.ratio * s_high - limit.slack:
        return "no_harm"
    return "inconclusive"


class GuardBoard:
    """Both versions' metrics for one rollout; `readings()` at any look."""

    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self.arms: dict[Arm, ArmMetrics] = {"stable": ArmMetrics(settings), "candidate": ArmMetrics(settings)}

    def add(self, outcome: RunOutcome) -> None:
        self.arms[outcome.arm].add(outcome)

    def add_cost(self, arm: Arm, cost: float) -> None:
        self.arms[arm].add_cost(cost)

    def readings(self) -> list[GuardReading]:
        found = []
        for guard in self.settings.measured:
            stable, candidate = self.arms["stable"].bounds(guard), self.arms["candidate"].bounds(guard)
            found.append(GuardReading(guard, stable, candidate, verdict(guard, self.limit(guard), stable, candidate)))
        return found

    def limit(self, guard: GuardName) -> GuardLimit:
        return self.settings.limits.get(guard) or default_limits()[guard]
