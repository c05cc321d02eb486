"""Requests a platform operator sends the orchestrator about rollouts, as the tests build them."""

from __future__ import annotations

from typing import Any, Final

from contracts.envelope import Actor
from contracts.rollouts import Audience, RolloutSpec, StartRolloutRequest

OPS: Final = Actor(user_id="u-ops")
# Offline metrics that pass the eval gate with room to spare.
PASSING: Final = {
    "recall_at_10": 0.95,
    "key_in_report": 0.92,
    "key_in_summary": 0.8,
    "citation_support": 1.0,
    "fabricated_citations": 0.0,
}


def start_request(component: str, candidate: str, **spec: Any) -> StartRolloutRequest:
    """A start of a rollout of `candidate` in two stages (50%, 100%) that decides as soon as a
    stage has its runs (no dwell), for every tier of tenant; `spec` changes the rest."""
    given: dict[str, Any] = {
        "stages": [50, 100],
        "min_runs_per_stage": 5,
        "min_tenants_per_stage": 2,
        "min_dwell_s": 0,
        "audience": Audience(excluded_tiers=[]),
    } | spec
    rollout = RolloutSpec(component=component, candidate=candidate, **given)
    return StartRolloutRequest(spec=rollout, tenant_id="t-ops", actor=OPS)
