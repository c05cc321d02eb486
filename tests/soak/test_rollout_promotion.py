"""A healthy candidate promoted stage by stage to every tenant, on the whole stack (`make soak`).

Not in `make test`: promotion needs the guards to show no harm, and a p95 cannot be bounded above
at the guards' confidence before about 160 runs of each version (services.orchestrator.rollouts
.mixtures), which on this machine is several minutes of real runs. The candidate differs from the
stable planner only by a parameter nothing reads, so it behaves the same; the guards are the
defaults except for wider duration and cost limits, as an operator rolling out a change that
should not move either would set them. Bounded: at most BOUNDS.max_runs runs and BOUNDS.deadline_s seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.stack import Stack
from tests.support.rollouts import (
    QUESTION,
    Bounds,
    rolled_out,
    rollout_of,
    rollout_stack,
    stable_version,
    until_decided,
)
from tests.support.stack import ask, clients_of, new_tenant, on_plan, until_settled

STABLE = {"mode": "offline"}
CANDIDATE = {"mode": "offline", "parameters": {"soak": 1}}
GUARDS = {
    "p95_duration": {"ratio": 2.0, "slack": 5.0},
    "cost_per_run": {"ratio": 2.0},
    "cost_ceiling": 60.0,
}
SPEC = {
    "stages": [25, 50, 100],
    "min_runs_per_stage": 10,
    "min_tenants_per_stage": 3,
    "look_every_s": 2,
    "guards": GUARDS,
}
# At 25% the candidate sees about a quarter of the runs, and with no error at all the error-rate
# and citation guards (limits within 0.02 of the stable version) need ~400 of its runs to show no
# harm: a first run of this soak stood at 185 candidate runs of 888 (p95, cost and completion
# already showed no harm) when it reached its bound of the time.
TENANTS = 40
BOUNDS = Bounds(in_flight=8, max_runs=3000, deadline_s=3600.0)
pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.soak, pytest.mark.timeout(BOUNDS.deadline_s + 900)]


stack = rollout_stack("soak-rollout")


def test_a_healthy_candidate_is_promoted_stage_by_stage_and_becomes_stable(stack: Stack, tmp_path: Path) -> None:
    with clients_of(stack) as factory:
        admin, _, candidate, rollout = rolled_out(stack, factory, tmp_path, "planner", (STABLE, CANDIDATE), SPEC)
        rollout_id = rollout["rollout_id"]
        # On a paid plan: a free tenant's credits last a handful of runs.
        tenants = [on_plan(new_tenant(factory, f"soak-{n}"), "pro") for n in range(TENANTS)]
        runs = until_decided(admin, rollout_id, tenants, BOUNDS)
        views = until_settled(runs)
        decided = rollout_of(admin, rollout_id)
        print(f"\n{len(runs)} runs to a decision: {[d['kind'] for d in decided['decisions']]}")
        assert decided["status"] == "completed", decided["decisions"]
        promoted = [d["percent"] for d in decided["decisions"] if d["kind"] == "promoted"]
        assert promoted == [50, 100]
        assert not [d for d in decided["decisions"] if d["kind"] == "rolled_back"]
        assert all(v["state"] == "completed" for v in views.values())
        assert stable_version(admin, "planner") == candidate
        owner = tenants[0]
        after = ask(owner, question=QUESTION, depth=1, max_sources=3)
        assert until_settled({after: owner})[after]["agent_versions"]["planner"] == candidate
