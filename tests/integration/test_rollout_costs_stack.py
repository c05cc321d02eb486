"""The cost guard's data on the whole stack (development, every service its own process): billing
settles each completed run's metered credits, and the orchestrator records them on the rollout
the run took an arm of, once per run, however its consumer is redelivered (the orchestrator is
killed -9 while runs end and settle): a look's cost figures are exactly the settled amounts of
the completed runs, one per run. (That a costlier candidate is rolled back on them is
tests/unit/test_rollout_costs.py's: dozens of runs per version, too long for this layer.)

The eval gate is passed by storing passing metrics through the API (what `quarry operator
evaluate` stores after a couple of minutes of offline evaluation; tests/integration/
test_rollout_shadow_stack.py runs that path).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from devtools.stack import Stack
from tests.support.polling import wait_for
from tests.support.rollout_requests import PASSING
from tests.support.rollouts import (
    PLANNER,
    QUALITY_OUT_OF_REACH,
    Bounds,
    admin_of,
    call,
    drive,
    register,
    rollout_of,
    rollout_stack,
    stable_version,
)
from tests.support.stack import clients_of, on_plan, until_settled

pytestmark = pytest.mark.infra

SPENDER = {"mode": "offline", "parameters": {"max_sub_questions": 3, "rollout_test": 3}}
# Only cost may decide: the other guards' limits are out of reach, and no stage ever has its runs.
COST_ONLY = {
    "error_rate": {"ratio": 100.0, "slack": 1.0},
    "p95_duration": {"ratio": 100.0, "slack": 1e6},
    **QUALITY_OUT_OF_REACH,
    "alpha": 0.2,
    "cost_ceiling": 60,
}
TENANTS = 4
FIRST_RUNS = 10
KILL_AT = 6  # the orchestrator is killed as the sixth run is asked for, while earlier ones end


stack = rollout_stack("cost-stack")


def cost_of(rollout: dict[str, Any]) -> dict[str, Any] | None:
    look = rollout.get("last_look")
    found = [g for g in (look or {}).get("guards", []) if g["guard"] == "cost_per_run"]
    return found[0] if found else None


def test_each_completed_runs_settled_credits_reach_the_cost_guard_once_through_a_kill(
    stack: Stack, tmp_path: Path
) -> None:
    with clients_of(stack) as factory:
        admin = admin_of(stack, factory, tmp_path)
        stable = register(admin, "planner", PLANNER)
        assert stable_version(admin, "planner") == stable
        candidate = register(admin, "planner", SPENDER)
        body = {"split": "test", "metrics": PASSING}
        assert call(admin, "POST", f"/v1/ops/agents/planner/{candidate}/evaluations", body, status=201)["passed"]
        # On a paid plan (a free tenant's credits last a handful of runs), two pinned to each version.
        tenants, arm_of, make = [], {}, factory
        for n in range(TENANTS):
            client = make()
            signed_up = client.signup(f"cost-{n}-{uuid.uuid4().hex[:6]}@example.com", "correct-horse-battery", "Cost")
            tenants.append(on_plan(client, "pro"))
            arm_of[signed_up["tenant_id"]] = "candidate" if n % 2 else "stable"
        spec = {
            "component": "planner",
            "candidate": candidate,
            "stages": [50, 100],
            "min_runs_per_stage": 1000,
            "min_dwell_s": 0,
            "look_every_s": 1,
            "guards": COST_ONLY,
            "audience": {"excluded_tiers": [], "pinned": arm_of},
            "note": "a planner that searches more",
        }
        rollout_id = call(admin, "POST", "/v1/ops/rollouts", spec, status=201)["rollout_id"]
        time.sleep(1.5)  # admission reads the assignment table at most once a second

        asked: list[int] = []

        def every_run(n: int) -> None:
            asked.append(n)
            if n == KILL_AT:
                stack.kill("orchestrator")

        bounds = Bounds(in_flight=4, max_runs=FIRST_RUNS + 4, deadline_s=240)
        first = drive(tenants, lambda: len(asked) >= FIRST_RUNS, bounds, every_run=every_run)
        views = until_settled(first)
        charged = _charged(views)
        assert {arm for arm, _ in charged.values()} == {"stable", "candidate"}, views
        pinned = {id(client): arm_of[tenant] for client, tenant in zip(tenants, arm_of, strict=True)}
        assert all(v["rollouts"]["planner"]["arm"] == pinned[id(first[r])] for r, v in views.items()), views
        by_arm = {arm: [c for a, c in charged.values() if a == arm] for arm in ("stable", "candidate")}

        # A look after every settlement: one cost per completed run, each the amount billing settled.
        def exact() -> dict[str, Any] | None:
            reading = cost_of(rollout_of(admin, rollout_id))
            if reading is None or reading["observations"] != {a: len(c) for a, c in by_arm.items()}:
                return None
            return reading

        reading = wait_for(exact, 60.0, f"the rollout's cost reading of every settled run: {by_arm}", every_s=0.5)
        for arm, costs in by_arm.items():
            assert reading[arm]["estimate"] == pytest.approx(mean(costs)), (arm, reading, by_arm)
        assert stack.procs["orchestrator"].restarts >= 1  # the kill happened, and was recovered from


def _charged(views: dict[str, dict[str, Any]]) -> dict[str, tuple[str, int]]:
    """run id -> (its arm, the credits billing settled) of each run that completed."""
    return {
        run_id: (view["rollouts"]["planner"]["arm"], int(view["cost"]["settled"]))
        for run_id, view in views.items()
        if view["state"] == "completed"
    }
