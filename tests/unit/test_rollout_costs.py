"""The cost guard reads what billing settled for each completed run, at the orchestrator's
use-case boundary on in-memory storage: a settlement is recorded once per run on each rollout
the run took an arm of (redelivered, or handled by a second replica on the same store), a failed
run's or a follow-up question's is not a cost, one that overtook the run's end waits for it, and
a candidate whose runs settle more credits is rolled back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.credits import CreditsSettled, CreditsSettledPayload
from contracts.ids import new_id
from contracts.rollouts import GuardLimit, Guards, RolledBack
from quarry_runtime.errors import NotReady
from services.orchestrator.application import Orchestrator
from services.orchestrator.bootstrap import outgoing_of
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.rollouts.translate import translate_rollout
from tests.support.orchestrator import Clock, decide, fail, published, work
from tests.support.rollout_app import admitted, look, run_of, start, versions

# Only the cost guard can decide: the others' limits are out of reach.
COST_ONLY = Guards(
    error_rate=GuardLimit(ratio=100.0, slack=1.0),
    p95_duration=GuardLimit(ratio=100.0, slack=1e6),
    completion_rate=GuardLimit(ratio=0.01, slack=1.0),
    citation_support=GuardLimit(ratio=0.01, slack=1.0),
    cost_ceiling=40,
)


def settled(app: Orchestrator, run_id: str, amount: int, **payload: Any) -> CreditsSettled:
    """Billing's settlement of `run_id`, charged `amount` credits."""
    run = app.get_run(run_id)
    body = CreditsSettledPayload(amount=amount, usage_event_ids=[], balance=500, **payload)
    return CreditsSettled.create(body, tenant_id=run.tenant_id, run_id=run_id)


def cost_reading(rollout: Rollout) -> dict[str, Any]:
    assert rollout.last_look is not None
    (reading,) = [g for g in rollout.last_look["guards"] if g["guard"] == "cost_per_run"]
    return dict(reading)


def test_a_completed_runs_settled_credits_are_its_cost_on_its_rollout_once(app: Orchestrator) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate)
    run_id = run_of(app, "tenant-1")
    arm = app.get_run(run_id).rollouts["planner"]["arm"]
    assert app.get_rollout(rollout.rollout_id).costs == []  # the run's end says nothing of its cost
    settlement = settled(app, run_id, 27)
    app.record_run_cost(settlement)
    held = app.get_rollout(rollout.rollout_id)
    assert [(c["run_id"], c["arm"], c["cost"]) for c in held.costs] == [(run_id, arm, 27.0)]
    assert held.costs_since(0) == [(arm, 27.0)]
    # Redelivered, or published again under another id: the run's cost is recorded already.
    app.record_run_cost(settlement)
    app.record_run_cost(settled(app, run_id, 27))
    # A follow-up question about the run is billed apart: not the run's cost.
    app.record_run_cost(settled(app, run_id, 5, question_id=new_id(), about_run_id=run_id))
    assert app.get_rollout(rollout.rollout_id).version == held.version
    # The recorded cost is the rollout's own data: the relay publishes nothing for it.
    stored = [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(start=1, limit=10_000)]
    (recorded,) = [e for e in stored if type(e).__qualname__ == "Rollout.CostSettled"]
    assert outgoing_of(lambda i, v: app.repository.get(i, version=v), lambda r, t: None)(recorded) == ()


def test_a_failed_runs_charge_is_not_a_cost_sample(app: Orchestrator) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate)
    run_id = admitted(app, "tenant-1")
    (plan,) = app.get_run(run_id).tasks_of("plan")
    app.apply_decision(decide(app.get_run(run_id), plan.task_id))
    app.finish_task(fail(app.get_run(run_id), plan.task_id, retryable=False))
    assert app.get_run(run_id).state == "failed"
    app.record_run_cost(settled(app, run_id, 3))
    held = app.get_rollout(rollout.rollout_id)
    assert held.observed == {run_id} and held.costs == []


def test_a_settlement_that_overtook_the_runs_end_waits_for_it(app: Orchestrator) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate)
    run_id = admitted(app, "tenant-1")
    early = settled(app, run_id, 12)
    with pytest.raises(NotReady):
        app.record_run_cost(early)
    assert app.get_rollout(rollout.rollout_id).costs == []
    work(app, run_id)
    app.record_run_cost(early)  # the redelivery, once the run has ended
    assert [c["cost"] for c in app.get_rollout(rollout.rollout_id).costs] == [12.0]


def test_a_candidate_whose_runs_settle_more_credits_is_rolled_back_on_cost(app: Orchestrator, clock: Clock) -> None:
    stable, candidate = versions(app)
    rollout = start(app, candidate, guards=COST_ONLY, min_runs_per_stage=1000)
    price = {"stable": 10, "candidate": 30}
    charged: dict[str, list[int]] = {"stable": [], "candidate": []}
    i = 0
    while min(len(c) for c in charged.values()) < 45:  # enough for a 3x difference to show
        assert i < 400, charged
        clock.now += timedelta(seconds=5)
        run_id = run_of(app, f"tenant-{i}")
        arm = app.get_run(run_id).rollouts["planner"]["arm"]
        app.record_run_cost(settled(app, run_id, price[arm]))
        charged[arm].append(price[arm])
        if i == 0:  # an outcome without its settlement is no cost: the reservation is not read
            clock.now += timedelta(seconds=60)
            look(app, rollout.rollout_id)
            assert cost_reading(app.get_rollout(rollout.rollout_id))["observations"] == {
                "stable": 1 if arm == "stable" else 0,
                "candidate": 1 if arm == "candidate" else 0,
            }
        i += 1
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)
    after = app.get_rollout(rollout.rollout_id)
    assert (after.status, after.percent) == ("rolled_back", 0), after.decisions[-1:]
    (back,) = [o.event for o in published(app, translate_rollout, only="Rollout.") if isinstance(o.event, RolledBack)]
    assert back.payload.guards == ["cost_per_run"]
    (cost,) = [g for g in back.payload.evidence.guards if g.guard == "cost_per_run"]
    assert cost.observations == {arm: len(c) for arm, c in charged.items()}
    assert cost.stable.estimate == pytest.approx(10.0) and cost.candidate.estimate == pytest.approx(30.0)
    # Later settlements of the rolled-back rollout's runs change nothing.
    app.record_run_cost(settled(app, run_id, 99))
    assert app.get_rollout(rollout.rollout_id).version == after.version
    assert app.get_run(run_of(app, "tenant-1")).agent_versions["planner"] == stable


def test_costs_recorded_between_looks_extend_the_cached_evidence_as_a_rebuild_would(
    app: Orchestrator, clock: Clock
) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate, min_runs_per_stage=1000)
    runs = []
    for i in range(6):
        clock.now += timedelta(seconds=5)
        runs.append(run_of(app, f"tenant-{i}"))
    for run_id in runs[:3]:
        app.record_run_cost(settled(app, run_id, 7))
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)  # caches what it folded in
    for run_id in runs[3:]:
        app.record_run_cost(settled(app, run_id, 11))
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)  # extends the cache with the three costs since
    cached = cost_reading(app.get_rollout(rollout.rollout_id))
    assert sum(cached["observations"].values()) == 6
    app._seen = None  # a new process: everything folded in again from the store
    look(app, rollout.rollout_id)
    assert cost_reading(app.get_rollout(rollout.rollout_id)) == cached


def test_a_snapshot_from_before_settled_costs_reads_as_none_recorded() -> None:
    state: dict[str, Any] = {"rollout_id": "r", "observed": {"run-1"}, "outcomes": [{"arm": "stable"}]}
    Rollout.upcast_v1_v2(state)
    assert state["costs"] == [] and state["costed"] == set() and state["observed"] == {"run-1"}


def test_two_replicas_on_one_store_record_a_runs_cost_once(tmp_path: Any, clock: Clock) -> None:
    """Each replica's consumer may be handed the settlement (a redelivery after the first one's
    ack was lost): the second finds the run's cost recorded, whichever saved first."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "orchestrator.db")}
    first, second = Orchestrator(env=env), Orchestrator(env=env)
    try:
        for replica in (first, second):
            replica.clock = clock
        _, candidate = versions(first)
        rollout = start(first, candidate)
        run_id = run_of(first, "tenant-1")
        settlement = settled(first, run_id, 21)
        first.record_run_cost(settlement)
        second.record_run_cost(settlement)
        second.record_run_cost(settled(second, run_id, 21))
        for replica in (first, second):
            assert [c["cost"] for c in replica.get_rollout(rollout.rollout_id).costs] == [21.0]
    finally:
        first.close()
        second.close()
