"""Which version of each component a run takes at admission. Pure.

Every component with a stable version runs it, unless a rollout of that component assigns the
tenant otherwise (services.orchestrator.rollouts.assignment). A component with no version
registered is left out: its worker runs its built-in settings. The table is built once per
change of what it holds, so an admission pays for a hash per rollout and a few lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.orchestrator.rollouts.assignment import Assigner
from services.orchestrator.rollouts.shadow import sampled


@dataclass(frozen=True)
class Assigned:
    """What a run records at admission (contracts.run.RunAdmittedPayload's two fields)."""

    versions: dict[str, str]
    rollouts: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class AssignmentTable:
    stable: Mapping[str, str] = field(default_factory=dict)
    # component -> (rollout id, its assignment as it stands)
    rollouts: Mapping[str, tuple[str, Assigner]] = field(default_factory=dict)

    def assign(self, tenant_id: str, tier: str, run_id: str = "") -> Assigned:
        """`run_id` decides whether a shadowing rollout samples the run (rollouts.shadow)."""
        versions = dict(self.stable)
        arms: dict[str, dict[str, Any]] = {}
        for component, (rollout_id, assigner) in self.rollouts.items():
            assignment = assigner.assign(tenant_id, tier)
            versions[component] = assigner.candidate if assignment.arm == "candidate" else assigner.stable
            arms[component] = {
                "rollout_id": rollout_id,
                "arm": assignment.arm,
                "basis": assignment.basis,
                "bucket": assignment.bucket,
            }
            rate = assigner.shadow_rate
            if rate and run_id and assignment.arm == "stable" and sampled(rollout_id, run_id, rate):
                arms[component]["shadow"] = assigner.candidate
        return Assigned(versions, arms)

    def with_rollouts(self, rollouts: Mapping[str, tuple[str, Assigner]]) -> AssignmentTable:
        return AssignmentTable(self.stable, {**self.rollouts, **rollouts})
