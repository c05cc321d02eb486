"""A rollout that shadows first, on the whole stack (development, every service its own process):
a planner candidate runs, unseen, beside every run of two tenants (sample rate 1.0); the runs
complete unchanged with the stable version's plan; no shadow event reaches a tenant's run log,
nor the candidate's version through the run's admission; each tenant is charged its own runs'
usage only (the shadows' goes to the platform's ledger); and after `shadow.min_runs`
observations the rollout leaves the shadow phase for its first stage.

A file of its own rather than a test of tests/e2e/test_agent_rollouts.py's, so that its stack and
the two offline evaluations the eval gate needs run on another worker than that file's.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from devtools.stack import Stack
from tests.support.rollouts import (
    PLANNER,
    QUALITY_OUT_OF_REACH,
    Bounds,
    rolled_out,
    rollout_of,
    rollout_stack,
    until_decided,
)
from tests.support.stack import clients_of, new_tenant, until_settled

pytestmark = pytest.mark.infra

SHADOWED = {"mode": "offline", "parameters": {"max_sub_questions": 2, "rollout_test": 2}}
# Limits a handful of shadow observations cannot fail or miss: the phase ends on min_runs alone.
LOOSE_GUARDS = {"error_rate": {"ratio": 1.0, "slack": 1.0}, **QUALITY_OUT_OF_REACH}
SHADOW_MIN_RUNS = 3
SPEC = {
    "stages": [50, 100],
    "min_runs_per_stage": SHADOW_MIN_RUNS,
    "min_tenants_per_stage": 2,
    "look_every_s": 1,
    "guards": LOOSE_GUARDS,
    "shadow": {"sample_rate": 1.0, "min_runs": SHADOW_MIN_RUNS},
    "note": "a planner shadowed first",
}


stack = rollout_stack("shadow-stack")


def test_a_shadowing_candidate_runs_unseen_beside_real_runs_then_takes_its_first_stage(
    stack: Stack, tmp_path: Path
) -> None:
    with clients_of(stack) as factory:
        admin, stable, candidate, rollout = rolled_out(stack, factory, tmp_path, "planner", (PLANNER, SHADOWED), SPEC)
        rollout_id = rollout["rollout_id"]
        assert (rollout["status"], rollout["percent"]) == ("shadowing", 0)
        tenants = [new_tenant(factory, f"shadow-{n}") for n in range(2)]
        time.sleep(1.5)  # admission reads the assignment table at most once a second

        runs = until_decided(
            admin, rollout_id, tenants, Bounds(in_flight=2, max_runs=12, deadline_s=240), phase="shadowing"
        )
        views = until_settled(runs)

        decided = rollout_of(admin, rollout_id)
        assert (decided["status"], decided["percent"]) == ("running", 50), decided["decisions"]
        promoted = next(d for d in decided["decisions"] if d["kind"] == "promoted")
        assert promoted["evidence"]["percent"] == 0 and promoted["evidence"]["candidate"]["runs"] >= SHADOW_MIN_RUNS
        shadow = decided["shadow"]
        assert shadow["observations"] >= SHADOW_MIN_RUNS and shadow["candidate_failures"] == 0, shadow
        assert shadow["mean_similarity"] is not None and 0.0 <= shadow["mean_similarity"] <= 1.0  # compared

        # The tenants' runs: the stable version's plan, unchanged; no shadow in their logs.
        shadowed = [r for r, v in views.items() if v["rollouts"].get("planner", {}).get("arm") == "stable"]
        assert len(shadowed) >= SHADOW_MIN_RUNS
        for run_id in shadowed:
            view = views[run_id]
            assert view["state"] == "completed" and view["agent_versions"]["planner"] == stable, view
            assert len(view["sub_questions"]) == 1, view  # the stable planner's cap; the candidate's is 2
            log = runs[run_id].get(f"/v1/runs/{run_id}/log?limit=500").json()["events"]
            plans = [
                e for e in log if e["event"]["type"] == "task.dispatched" and e["event"]["payload"]["kind"] == "plan"
            ]
            assert len(plans) == 1 and not plans[0]["event"]["payload"].get("shadow"), plans
            assert not [e for e in log if e["event"]["payload"].get("shadow") is True], run_id
            assert not [e for e in log if e["event"]["payload"].get("billed_to") == "platform"], run_id
            # Nor that the run was sampled, nor for which version: the admission shows its arm only.
            (admitted,) = [e["event"] for e in log if e["event"]["type"] == "run.admitted"]
            assert "shadow" not in admitted["payload"]["rollouts"]["planner"], admitted
            assert candidate not in json.dumps(log) and candidate not in json.dumps(view), run_id

        # Each tenant is charged its own runs' usage and nothing else.
        for owner in tenants:
            summary = owner.get("/v1/billing/summary?recent=0").json()
            own = {r: v for r, v in views.items() if runs[r] is owner}
            assert summary["reserved"] == 0, summary
            assert set(summary["used_by_run"]) <= set(own), summary["used_by_run"]
            settled = sum(v["cost"]["settled"] for v in own.values())
            assert summary["budget"] - summary["balance"] == settled, (summary, [v["cost"] for v in own.values()])

        # ... and the shadows' usage was metered as the platform's own cost.
        scraped = httpx.get(f"http://127.0.0.1:{stack.procs['billing'].health_port}/metrics", timeout=10).text
        assert re.search(r'^quarry_platform_credits(_total)?\{kind="plan"\} ', scraped, re.M), scraped[-2000:]
