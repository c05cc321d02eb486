"""Agent versions and their rollouts on the whole stack (development, every service its own
process, one stack for the module):

- a platform admin registers a planner and a ranker version; they become the stable ones, and the
  next run records them at admission and is planned and ranked by them;
- a planner version made to fail (`fault.fail_rate` 1.0) passes the eval gate (faults are not
  injected there) and is rolled out to half the tenants; its runs fail as the platform's fault and
  are refunded; the guards roll it back on their own after enough runs while the orchestrator is
  killed (-9) mid-evaluation again and again; the decision is taken and published once; every
  later run takes the stable version and completes; and a run's log names the versions it used,
  as `state?at=` reproduces them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.agents import AgentConfig, agent_version
from devtools.stack import Stack
from tests.support.rollouts import (
    PLANNER,
    QUESTION,
    Bounds,
    admin_of,
    call,
    register,
    rolled_out,
    rollout_of,
    rollout_stack,
    stable_version,
    until_decided,
)
from tests.support.stack import ask, clients_of, new_tenant, on_plan, until_settled

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

RANKER = {"mode": "offline", "parameters": {"expansion": False, "related_weight": 0.2}}
FAILING = {"mode": "offline", "parameters": {"max_sub_questions": 1, "rollout_test": 1}, "fault": {"fail_rate": 1.0}}
SPEC = {
    "stages": [50, 100],
    "min_runs_per_stage": 5,
    "min_tenants_per_stage": 2,
    "look_every_s": 1,
    # The loosest alpha an operator may set: the guards see a total failure after 14 runs per
    # version rather than the default's 18 (which tests/unit/test_rollout_contracts.py checks).
    "guards": {"alpha": 0.2},
    "note": "a planner made to fail",
}
# A total failure is certain after a few dozen runs; these bound the wait for it.
TENANTS = 12
# Often enough that two kills or more land before the guards have seen enough (asserted).
KILL_EVERY_RUNS = 10
BOUNDS = Bounds(in_flight=6, max_runs=160, deadline_s=600.0)


# A message the killed orchestrator held comes back after the ack wait: 30 s by default, which
# the runs caught by a kill would sit out. An operator's setting, as tests/e2e/test_chaos.py's.
stack = rollout_stack("e2e-agents", {"QUARRY_ACK_WAIT_S": "5"})


def test_a_run_is_planned_and_ranked_by_the_stable_versions(stack: Stack, tmp_path: Path) -> None:
    with clients_of(stack) as factory:
        admin = admin_of(stack, factory, tmp_path)
        versions: dict[str, str] = {}
        for component, config in (("planner", PLANNER), ("ranker", RANKER)):
            versions[component] = register(admin, component, config)
            assert versions[component] == agent_version(component, AgentConfig.model_validate(config))
            assert stable_version(admin, component) == versions[component]  # the first registered
        time.sleep(1.5)  # admission reads the assignment table at most once a second

        owner = new_tenant(factory, "researcher")
        run_id = ask(owner, question="How does the with statement work and what are context managers?", depth=2)
        view = until_settled({run_id: owner})[run_id]
    assert view["state"] == "completed", view.get("error")
    assert view["agent_versions"]["planner"] == versions["planner"]
    assert view["agent_versions"]["ranker"] == versions["ranker"]
    assert view["rollouts"] == {}
    assert len(view["sub_questions"]) == 1  # the planner version's cap, not the depth's three or four


def test_a_failing_candidate_is_rolled_back_once_through_kills_and_runs_go_stable(stack: Stack, tmp_path: Path) -> None:
    with clients_of(stack) as factory:
        admin, stable, candidate, rollout = rolled_out(stack, factory, tmp_path, "planner", (PLANNER, FAILING), SPEC)
        rollout_id = rollout["rollout_id"]
        assert (rollout["stable"], rollout["percent"], rollout["status"]) == (stable, 50, "running")
        # On a paid plan: a free tenant's credits last a handful of runs.
        tenants = [on_plan(new_tenant(factory, f"rollout-{n}"), "pro") for n in range(TENANTS)]
        kills: list[datetime] = []

        def kill_now_and_then(n: int) -> None:
            if n % KILL_EVERY_RUNS == 0:
                kills.append(datetime.now(UTC))
                stack.kill("orchestrator")  # mid-evaluation: it looks every second

        runs = until_decided(admin, rollout_id, tenants, BOUNDS, every_run=kill_now_and_then)
        views = until_settled(runs)

        decided = rollout_of(admin, rollout_id)
        assert decided["status"] == "rolled_back" and decided["percent"] == 0, decided["decisions"]
        (rollback,) = [d for d in decided["decisions"] if d["kind"] == "rolled_back"]
        assert set(rollback["guards"]) & {"error_rate", "completion_rate"}, rollback
        # "Through kills": the decision came after two of them at least, not before the first.
        assert len([k for k in kills if k < datetime.fromisoformat(rollback["at"])]) >= 2, (kills, rollback["at"])
        error = next(g for g in rollback["evidence"]["guards"] if g["guard"] == "error_rate")
        assert error["candidate"]["estimate"] == 1.0 and error["stable"]["estimate"] == 0.0
        # Published once, whatever the kills did to the looks around it.
        published = call(admin, "GET", "/v1/ops/events?type=rollout.rolled_back&limit=10")["events"]
        assert len(published) == 1, published

        # Each run's arm as admission recorded it; none for runs admitted after the rollback.
        arms = {run_id: view["rollouts"].get("planner", {}).get("arm") for run_id, view in views.items()}
        assert {"candidate", "stable"} <= set(arms.values()), arms
        for run_id, view in views.items():
            expected = candidate if arms[run_id] == "candidate" else stable
            assert view["agent_versions"]["planner"] == expected, view
            if arms[run_id] == "candidate":  # the injected fault: the platform's, refunded in full
                assert view["state"] == "failed" and "injected" in (view["error"] or ""), view
                assert view["cost"]["refunded"] == view["cost"]["reserved"] > 0, view["cost"]
            else:
                assert view["state"] == "completed", view

        # After the rollback a tenant the candidate had takes the stable version, and completes.
        failed = next(r for r, arm in arms.items() if arm == "candidate")
        owner = runs[failed]
        time.sleep(1.5)  # the assignment table is read again at most once a second
        after = ask(owner, question=QUESTION, depth=1, max_sources=3)
        view = until_settled({after: owner})[after]
        assert view["state"] == "completed" and view["agent_versions"]["planner"] == stable, view
        assert view["rollouts"] == {}  # the rollout is over: nothing left to assign

        # A run's log names its versions, and its state at admission says the same.
        log = owner.get(f"/v1/runs/{failed}/log?limit=50").json()["events"]
        seq, admitted = next((e["seq"], e["event"]) for e in log if e["event"]["type"] == "run.admitted")
        assert admitted["payload"]["agent_versions"]["planner"] == candidate
        at = owner.get(f"/v1/runs/{failed}/state?at={seq}").json()
        assert at["agent_versions"] == admitted["payload"]["agent_versions"]
        assert at["rollouts"]["planner"]["rollout_id"] == rollout_id
