"""Plain values between the stored rollout and its parts: evidence as a record, rules from a spec. Pure.

A record has the field names of contracts.rollouts.Evidence, with times as ISO strings, so a
stored decision is JSON as it is and `Evidence.model_validate(record)` reads it unchanged. A
spec is contracts.rollouts.RolloutSpec dumped in JSON mode; `rules_of` reads only what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from services.orchestrator.rollouts.assignment import Arm, Audience
from services.orchestrator.rollouts.decision import Evidence, StageRules
from services.orchestrator.rollouts.guards import (
    GUARDS,
    GuardLimit,
    GuardName,
    GuardSettings,
    RunOutcome,
    default_limits,
)
from services.orchestrator.rollouts.observations import ArmCounts
from services.orchestrator.rollouts.sequences import Bounds
from services.orchestrator.rollouts.shadow import shadow_guards


def evidence_record(evidence: Evidence) -> dict[str, Any]:
    """The evidence as the record a stored decision keeps and its contract event carries."""
    ratio = evidence.sample_ratio
    return {
        "percent": evidence.percent,
        "candidate": _counts(evidence.candidate),
        "stable": _counts(evidence.stable),
        "guards": [
            {
                "guard": r.guard,
                "stable": _interval(r.stable),
                "candidate": _interval(r.candidate),
                "verdict": r.verdict,
                "observations": {"stable": r.stable.observations, "candidate": r.candidate.observations},
            }
            for r in evidence.guards
        ],
        "sample_ratio": None
        if ratio is None
        else {
            "expected_fraction": evidence.expected_fraction,
            "candidate_tenants": ratio.successes,
            "stable_tenants": ratio.trials - ratio.successes,
            "allowed_deviation": ratio.allowed_deviation,
            "mismatch": ratio.exceeded,
        },
    }


def _counts(counts: ArmCounts) -> dict[str, Any]:
    # Its fields are the contract's (contracts.rollouts.ArmCounts): only the time needs writing out.
    return {**asdict(counts), "last_run_at": _iso(counts.last_run_at)}


def _interval(bounds: Bounds) -> dict[str, float | None]:
    return {"estimate": bounds.estimate, "lower": bounds.lower, "upper": bounds.upper}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def rules_of(spec: Mapping[str, Any], shadowing: bool) -> StageRules:
    """A stage's rules from a spec; in the shadow phase the shadow's minimum runs apply."""
    guards = spec.get("guards") or {}
    limits: dict[GuardName, GuardLimit] = default_limits()
    for name in GUARDS:
        given = guards.get(name)
        if given:
            limits[name] = GuardLimit(float(given["ratio"]), float(given.get("slack", 0.0)))
    settings = GuardSettings(
        limits=limits,
        alpha=float(guards.get("alpha", 0.05)),
        cost_ceiling=float(guards.get("cost_ceiling", 100.0)),
        measured=shadow_guards(str(spec.get("component", ""))) if shadowing else GUARDS,
    )
    shadow = spec.get("shadow")
    min_runs = int(shadow["min_runs"]) if shadowing and shadow else int(spec.get("min_runs_per_stage", 50))
    return StageRules(
        min_runs=min_runs,
        min_tenants=int(spec.get("min_tenants_per_stage", 3)),
        min_dwell_s=int(spec.get("min_dwell_s", 600)),
        starved_after_s=int(spec.get("starved_after_s", 3600)),
        guards=settings,
    )


def audience_of(spec: Mapping[str, Any]) -> Audience:
    given = spec.get("audience") or {}
    return Audience(
        pinned={tenant: cast(Arm, arm) for tenant, arm in (given.get("pinned") or {}).items()},
        excluded_tenants=frozenset(given.get("excluded_tenants") or ()),
        excluded_tiers=frozenset(given.get("excluded_tiers", ["enterprise"])),
    )


def outcome_record(outcome: RunOutcome) -> dict[str, Any]:
    """A run's outcome as the rollout stores it (JSON as it is), without a cost: a stored run's
    cost is recorded apart, once billing settles it (Rollout.settle_cost)."""
    return {
        "arm": outcome.arm,
        "tenant_id": outcome.tenant_id,
        "finished_at": outcome.finished_at.isoformat(),
        "completed": outcome.completed,
        "errored": outcome.errored,
        "duration_s": outcome.duration_s,
        "citation_support": outcome.citation_support,
        "basis": outcome.basis,
    }


def outcome_of(record: Mapping[str, Any]) -> RunOutcome:
    return RunOutcome(
        arm=record["arm"],
        tenant_id=record["tenant_id"],
        finished_at=datetime.fromisoformat(record["finished_at"]),
        completed=bool(record["completed"]),
        errored=bool(record["errored"]),
        duration_s=float(record["duration_s"]),
        # Older records carry the run's reservation as "cost": the same for every run of a
        # depth, it is not what the cost guard judges, so it is not read.
        cost=None,
        citation_support=None if record.get("citation_support") is None else float(record["citation_support"]),
        basis=record.get("basis", "bucket"),
    )
