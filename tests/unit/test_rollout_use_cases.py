"""Rollouts at the orchestrator's use-case boundary, on in-memory storage: the eval gate and one
rollout per component at a time, admission by bucket recorded in the run, each ended run's
outcome recorded once in the commit that ends it (its settled cost: test_rollout_costs.py),
looks on the durable timer that roll a failing candidate back or promote a healthy one to
stable, operators' commands, and holds."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts.agents import RecordEvaluationRequest
from contracts.credits import CreditsSettled, CreditsSettledPayload
from contracts.ids import new_id
from contracts.rollouts import (
    GuardLimit,
    Guards,
    Held,
    RolledBack,
    RolloutCommandRequest,
    RolloutStarted,
    StageAdvanced,
)
from contracts.timer import TimerFired
from services.orchestrator.application import Orchestrator
from services.orchestrator.rollouts.application import RolloutConflict, RolloutRefused
from services.orchestrator.rollouts.domain import Rollout, RolloutError
from services.orchestrator.rollouts.guards import RunOutcome
from services.orchestrator.rollouts.info import rollout_info
from services.orchestrator.rollouts.translate import translate_rollout
from tests.support.orchestrator import T0, Clock, published, requested, reserved
from tests.support.rollout_app import look, run_of, start, versions
from tests.support.rollout_requests import OPS, PASSING
from tests.support.rollout_traffic import Behaviour


def test_a_rollout_starts_only_on_a_passed_evaluation_and_one_per_component(app: Orchestrator) -> None:
    stable, candidate = versions(app, evaluated=None)
    for version, why in ((candidate, "no stored offline evaluation"), (stable, "is the stable version")):
        with pytest.raises(RolloutRefused, match=why):
            start(app, version)
    with pytest.raises(RolloutRefused, match="has no version"):
        start(app, "0" * 64)
    failing = RecordEvaluationRequest(
        component="planner", version=candidate, metrics={**PASSING, "recall_at_10": 0.1}, tenant_id="t-ops"
    )
    app.record_evaluation(failing)
    with pytest.raises(RolloutRefused, match="recall_at_10"):
        start(app, candidate)
    app.record_evaluation(failing.model_copy(update={"metrics": PASSING}))
    first = start(app, candidate)
    assert (first.stable, first.candidate, first.status, first.percent) == (stable, candidate, "running", 50)
    with pytest.raises(RolloutConflict, match=first.rollout_id):
        start(app, candidate)
    abort = RolloutCommandRequest(rollout_id=first.rollout_id, action="abort", note="x", tenant_id="t-ops")
    app.command_rollout(abort)
    second = start(app, candidate)
    assert [r.rollout_id for r in app.list_rollouts("planner")] == [second.rollout_id, first.rollout_id]


def test_admission_assigns_tenants_by_bucket_at_the_stages_share_and_records_it(app: Orchestrator) -> None:
    stable, candidate = versions(app)
    rollout = start(app, candidate)
    arms = []
    for i in range(1500):
        req = requested().model_copy(update={"tenant_id": f"tenant-{i}"})
        app.start_run(req)
        app.admit_run(reserved(req, plan="pro"))
        run = app.get_run(req.run_id or "")
        arm = run.rollouts["planner"]
        assert arm["rollout_id"] == rollout.rollout_id and arm["basis"] == "bucket"
        assert arm["arm"] == rollout.arm_of(f"tenant-{i}", "pro").arm
        assert run.agent_versions["planner"] == (candidate if arm["arm"] == "candidate" else stable)
        arms.append(arm["arm"])
    assert 0.45 < arms.count("candidate") / len(arms) < 0.55


def test_an_ended_run_is_recorded_once_by_its_rollout(app: Orchestrator, clock: Clock) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate)
    run_id = run_of(app, "tenant-1")
    run = app.get_run(run_id)
    assert run.state == "completed"
    held = app.get_rollout(rollout.rollout_id)
    assert len(held.outcomes) == 1 and held.observed == {run_id}
    (outcome,) = held.outcomes_since(0)
    assert outcome.completed and not outcome.errored and outcome.tenant_id == "tenant-1"
    # Its cost is not known at its end (billing settles it later: tests/unit/test_rollout_costs.py).
    assert outcome.arm == run.rollouts["planner"]["arm"] and outcome.cost is None
    assert outcome.citation_support is None  # the test's synthesiser output carries no check
    # Recording it again (a redelivered end, another replica) changes nothing.
    assert app.observe_run(app.get_run(run_id)) == []
    assert len(app.get_rollout(rollout.rollout_id).outcomes) == 1


def test_a_failing_candidate_is_rolled_back_at_a_look_and_later_runs_take_the_stable_version(
    app: Orchestrator, clock: Clock
) -> None:
    stable, candidate = versions(app)
    rollout = start(app, candidate)
    for i in range(80):
        clock.now += timedelta(seconds=5)
        run_of(app, f"tenant-{i % 40}", candidate_fails=True)
    held = app.get_rollout(rollout.rollout_id)
    failed = [o for o in held.outcomes_since(0) if o.arm == "candidate"]
    assert failed and all(o.errored and not o.completed for o in failed)
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)
    after = app.get_rollout(rollout.rollout_id)
    assert (after.status, after.percent) == ("rolled_back", 0)
    (back,) = [o.event for o in published(app, translate_rollout, only="Rollout.") if isinstance(o.event, RolledBack)]
    assert "error_rate" in back.payload.guards and back.payload.evidence.candidate.runs == len(failed)
    later = [app.get_run(run_of(app, f"tenant-{i}")) for i in range(20)]
    assert {r.agent_versions["planner"] for r in later} == {stable}
    assert all(r.state == "completed" for r in later)
    # A rolled-back rollout sets no further look, and its old timer does nothing.
    timers = [o for o in published(app, translate_rollout, only="Rollout.") if isinstance(o.event, TimerFired)]
    assert [t.event.payload.attempt for t in timers] == [1]
    look(app, rollout.rollout_id, attempt=1)
    assert app.get_rollout(rollout.rollout_id).version == after.version


def test_a_healthy_candidate_is_promoted_stage_by_stage_and_made_stable(app: Orchestrator, clock: Clock) -> None:
    _, candidate = versions(app)
    # Looser error and p95 limits than the defaults, so that a few thousand runs show no harm
    # whatever the rollout's salt (its id) puts where (200 salts of 200 promote both stages).
    guards = Guards(error_rate=GuardLimit(ratio=1.1, slack=0.1), p95_duration=GuardLimit(ratio=2.0, slack=10.0))
    rollout = start(app, candidate, stages=[40, 80, 100], min_runs_per_stage=30, guards=guards)
    traffic_at = T0
    for stage in (40, 80):
        held = app.get_rollout(rollout.rollout_id)
        assert held.percent == stage, held.decisions[-1:]
        # Many finished runs of both versions, healthy alike (the guards need thousands for no harm).
        for n, outcome in enumerate(_healthy(held, 5000, seed=stage, start=traffic_at)):
            held.observe(f"run-{stage}-{n}", outcome)
            if outcome.completed and outcome.cost is not None:  # what billing settles, once it has
                held.settle_cost(f"run-{stage}-{n}", outcome.arm, outcome.cost, outcome.finished_at)
            traffic_at = outcome.finished_at
        app.save(held)
        clock.now = traffic_at + timedelta(minutes=1)
        look(app, rollout.rollout_id)
    done = app.get_rollout(rollout.rollout_id)
    assert (done.status, done.percent) == ("completed", 100), done.decisions[-1]
    advanced = [
        o.event for o in published(app, translate_rollout, only="Rollout.") if isinstance(o.event, StageAdvanced)
    ]
    assert [(e.payload.to_percent, e.payload.completed) for e in advanced] == [(80, False), (100, True)]
    (listed,) = [v for v in app.agent_versions("planner") if v.stable]
    assert listed.version == candidate
    run = app.get_run(run_of(app, "tenant-9"))
    assert run.agent_versions["planner"] == candidate and run.rollouts == {}


def _healthy(rollout: Rollout, runs: int, seed: int, start: datetime) -> list[RunOutcome]:
    rng, at = random.Random(seed), start
    found: list[RunOutcome] = []
    for _ in range(runs):
        at += timedelta(seconds=1)
        tenant = f"tenant-{rng.randrange(3000)}"
        found.append(Behaviour().outcome(rng, rollout.arm_of(tenant, "pro"), tenant, at))
    return found


def test_operators_pause_resume_and_abort_and_are_told_what_the_state_refuses(app: Orchestrator) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate)

    def command(action: Any, rollout_id: str = rollout.rollout_id) -> Rollout:
        ask = RolloutCommandRequest(rollout_id=rollout_id, action=action, note=action, tenant_id="t-2", actor=OPS)
        return app.command_rollout(ask)

    with pytest.raises(LookupError):
        command("pause", new_id())
    with pytest.raises(LookupError):
        command("pause", "not-an-id")
    with pytest.raises(RolloutError):
        command("resume")
    assert command("pause").status == "paused"
    salt = app.get_rollout(rollout.rollout_id).salt
    assert command("rerandomise").salt != salt
    assert command("resume").status == "running"
    assert command("abort").status == "aborted"
    with pytest.raises(RolloutError):
        command("pause")
    info = rollout_info(app.get_rollout(rollout.rollout_id))
    kinds = [d.kind for d in info.decisions]
    assert kinds == ["started", "paused", "rerandomised", "resumed", "aborted"]
    assert [d.note for d in info.decisions[1:]] == ["pause", "rerandomise", "resume", "abort"]
    # An aborted rollout sends every later run to the stable version.
    assert app.get_run(run_of(app, "tenant-3")).rollouts == {}


def test_no_traffic_holds_as_starved_once_and_every_look_is_kept(app: Orchestrator, clock: Clock) -> None:
    _, candidate = versions(app)
    rollout = start(app, candidate, starved_after_s=600)
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)  # too early to call it starved: a wait
    clock.now += timedelta(seconds=600)
    look(app, rollout.rollout_id)
    clock.now += timedelta(seconds=60)
    look(app, rollout.rollout_id)  # starved still: no second Held
    held = app.get_rollout(rollout.rollout_id)
    info = rollout_info(held)
    assert [(d.kind, d.reason) for d in info.decisions] == [("started", None), ("held", "starved")]
    assert info.last_look_at == clock.now and info.last_look is not None
    assert held.status == "running" and held.looks == 4
    out = published(app, translate_rollout, only="Rollout.")
    assert len([o for o in out if isinstance(o.event, Held)]) == 1
    assert len([o for o in out if isinstance(o.event, RolloutStarted)]) == 1
    timers = [o for o in out if isinstance(o.event, TimerFired)]
    assert [t.event.payload.attempt for t in timers] == [1, 2, 3, 4]
    assert timers[0].at == T0 + timedelta(seconds=60) and timers[-1].at == clock.now + timedelta(seconds=60)
    # Each timer's id is fixed by the rollout and the look: publishing again sets no second one.
    assert (
        len(
            {
                t.event.event_id
                for t in timers
                + [o for o in published(app, translate_rollout, only="Rollout.") if isinstance(o.event, TimerFired)]
            }
        )
        == 4
    )
    # A timer whose look was taken already (redelivered) decides nothing.
    look(app, rollout.rollout_id, attempt=2)
    assert app.get_rollout(rollout.rollout_id).version == held.version


def test_a_shadow_spec_starts_in_the_shadow_phase(app: Orchestrator) -> None:
    """(What shadowing does: tests/unit/test_rollout_shadow.py.)"""
    _, candidate = versions(app)
    rollout = start(app, candidate, shadow={"sample_rate": 0.1})
    assert (rollout.status, rollout.percent, rollout.stage_index) == ("shadowing", 0, -1)


def test_a_restart_rebuilds_the_same_evidence_from_the_stored_outcomes(tmp_path: Any, clock: Clock) -> None:
    """The guards' sequences are a function of the ordered outcomes: a new process on the same
    store, looking at the same moment, sees the very intervals the old one did."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "orchestrator.db")}
    first = Orchestrator(env=env)
    first.clock = clock
    _, candidate = versions(first)
    rollout = start(first, candidate, min_runs_per_stage=1000)
    for i in range(30):
        clock.now += timedelta(seconds=3)
        run = first.get_run(run_of(first, f"tenant-{i}", candidate_fails=True))
        if run.state == "completed":  # billing settles it: its cost
            charge = CreditsSettledPayload(amount=10 + i, usage_event_ids=[], balance=100)
            first.record_run_cost(CreditsSettled.create(charge, tenant_id=run.tenant_id, run_id=run.run_id))
    clock.now += timedelta(seconds=60)
    look(first, rollout.rollout_id)
    seen = first.get_rollout(rollout.rollout_id)
    assert seen.last_look is not None and seen.last_look["candidate"]["runs"] + seen.last_look["stable"]["runs"] == 30
    assert seen.costs and len(seen.costs) < 30
    first.close()

    again = Orchestrator(env=env)
    again.clock = clock
    look(again, rollout.rollout_id)  # the next look, at the same moment, from the stored outcomes alone
    after = again.get_rollout(rollout.rollout_id)
    assert after.looks == seen.looks + 1 and after.outcomes == seen.outcomes and after.costs == seen.costs
    assert after.last_look == seen.last_look
