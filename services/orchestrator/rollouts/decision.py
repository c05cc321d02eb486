"""One look at a rollout's stage: promote, roll back, hold (and why), or wait. Pure.

In this order, each step deciding only when the ones before it did not:

1. the metrics could not be read: hold (`metrics_error`); nothing is known, so nothing changes;
2. a guard shows harm for certain: roll back, at any look (the sequences are valid at all of
   them), before a mismatch is even checked: going back to the stable version is always safe;
3. the split of bucket-assigned tenants is far from the stage's (a sequential test): hold
   (`sample_ratio_mismatch`), for a broken split makes every comparison suspect;
4. the stage's dwell time has not passed, or a version lacks its minimum runs or tenants in the
   stage: wait, or hold (`starved`) when a version has had no run for `starved_after_s`;
5. every guard shows no harm: promote; otherwise hold (`inconclusive`), which never promotes.

Metrics are per version over the whole rollout (every run since it started, in the order they
finished): a version's earlier runs still say how it behaves. The minimum runs and tenants count
the current stage only, so each stage brings fresh evidence at its own exposure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from services.orchestrator.rollouts.assignment import BUCKETS, candidate_buckets
from services.orchestrator.rollouts.guards import GuardName, GuardReading, GuardSettings, RunOutcome
from services.orchestrator.rollouts.observations import ArmCounts, Observations
from services.orchestrator.rollouts.sequences import RatioCheck, ratio_walk_exceeds

Action = Literal["promote", "roll_back", "hold", "wait"]
HoldReason = Literal["starved", "metrics_error", "sample_ratio_mismatch", "inconclusive"]


@dataclass(frozen=True)
class StageRules:
    """What a stage needs before a decision (contracts.rollouts.RolloutSpec, as plain values)."""

    min_runs: int = 50
    min_tenants: int = 3
    min_dwell_s: int = 600
    starved_after_s: int = 3600
    guards: GuardSettings = field(default_factory=GuardSettings)
    # The sample-ratio test's own false-alarm budget: a false alarm only holds, so it is not
    # taken from the guards' alpha.
    sample_ratio_alpha: float = 0.001


@dataclass(frozen=True)
class Evidence:
    """The numbers behind a decision (field names as contracts.rollouts.Evidence's)."""

    percent: int
    candidate: ArmCounts
    stable: ArmCounts
    guards: list[GuardReading]
    sample_ratio: RatioCheck | None
    expected_fraction: float | None


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: HoldReason | None = None
    harmed: tuple[GuardName, ...] = ()
    evidence: Evidence | None = None
    detail: str = ""


@dataclass(frozen=True)
class MetricsUnavailable:
    """Reading the runs' outcomes failed: the look holds with this reason."""

    detail: str


def look(
    rules: StageRules,
    percent: int,
    stage_started_at: datetime,
    now: datetime,
    outcomes: Observations | Sequence[RunOutcome] | MetricsUnavailable,
) -> Decision:
    """The decision at `now` on the stage at `percent` (0: the shadow phase); see the docstring.

    `outcomes` is every run since the rollout started, in the order they finished: as a list,
    or kept current between looks in an `Observations` made with `rules.guards`.
    """
    if isinstance(outcomes, MetricsUnavailable):
        return Decision("hold", "metrics_error", detail=outcomes.detail)
    seen = outcomes if isinstance(outcomes, Observations) else Observations(rules.guards, outcomes)
    in_stage = seen.since(stage_started_at)
    ratio, expected = _sample_ratio(rules, percent, in_stage)
    evidence = Evidence(
        percent=percent,
        candidate=seen.counts("candidate", in_stage),
        stable=seen.counts("stable", in_stage),
        guards=seen.readings(),
        sample_ratio=ratio,
        expected_fraction=expected,
    )
    harmed = tuple(r.guard for r in evidence.guards if r.verdict == "harm")
    if harmed:
        return Decision("roll_back", harmed=harmed, evidence=evidence)
    if ratio is not None and ratio.exceeded:
        return Decision("hold", "sample_ratio_mismatch", evidence=evidence)
    arms = (evidence.candidate, evidence.stable)
    short = [a for a in arms if a.runs_in_stage < rules.min_runs or a.tenants_in_stage < rules.min_tenants]
    if short:
        starved_since = now - timedelta(seconds=rules.starved_after_s)
        if any((a.last_run_at or stage_started_at) <= starved_since for a in short):
            return Decision("hold", "starved", evidence=evidence)
        return Decision("wait", evidence=evidence)
    if now - stage_started_at < timedelta(seconds=rules.min_dwell_s):
        return Decision("wait", evidence=evidence)
    if all(r.verdict == "no_harm" for r in evidence.guards):
        return Decision("promote", evidence=evidence)
    return Decision("hold", "inconclusive", evidence=evidence)


def _sample_ratio(
    rules: StageRules, percent: int, in_stage: Sequence[RunOutcome]
) -> tuple[RatioCheck | None, float | None]:
    """The sequential split test over the stage's bucket-assigned tenants, in order of first run.

    Tenants are what the hash randomises (a tenant's runs all go one way), so they are counted,
    not runs. Pinned and excluded tenants are not part of the split. No test at 0% (shadow).
    """
    if not 0 < percent < 100:
        return None, None
    expected = candidate_buckets(percent) / BUCKETS
    first_arm: dict[str, bool] = {}
    for outcome in in_stage:
        if outcome.basis == "bucket":
            first_arm.setdefault(outcome.tenant_id, outcome.arm == "candidate")
    return ratio_walk_exceeds(first_arm.values(), expected, rules.sample_ratio_alpha), expected
