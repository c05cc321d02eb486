"""A stored rollout as the contracts show it (contracts.rollouts.RolloutInfo)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.rollouts import Evidence, RolloutDecision, RolloutInfo, RolloutSpec, ShadowSummary
from quarry_runtime.attributes import from_attributes
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.rollouts.shadow import summary


def rollout_info(rollout: Rollout) -> RolloutInfo:
    """Its state, its decisions with their evidence, and the latest look (stored with the
    rollout, decision or not, so every replica answers the same)."""
    return from_attributes(
        RolloutInfo,
        rollout,
        spec=RolloutSpec.model_validate(rollout.spec),
        decisions=[
            RolloutDecision(kind="started", at=rollout.started_at, percent=_first_percent(rollout), note=rollout.note),
            *(_decision(d) for d in rollout.decisions),
        ],
        last_look=None if rollout.last_look is None else Evidence.model_validate(rollout.last_look),
        shadow=ShadowSummary.model_validate(summary(rollout.shadow_observations))
        if rollout.spec.get("shadow")
        else None,
    )


def _decision(record: dict[str, Any]) -> RolloutDecision:
    evidence = record.get("evidence")
    return RolloutDecision(
        kind=record["kind"],
        at=datetime.fromisoformat(record["at"]),
        percent=record.get("percent"),
        reason=record.get("reason"),
        guards=record.get("guards") or [],
        note=record.get("note") or record.get("detail") or "",
        evidence=None if evidence is None else Evidence.model_validate(evidence),
    )


def _first_percent(rollout: Rollout) -> int:
    return 0 if rollout.spec.get("shadow") else int(rollout.stages[0])
