"""Shadow runs at the orchestrator's use-case boundary, on in-memory storage: a shadowing rollout
copies the planner tasks of sampled runs only (once per task, not per retry), records each copy
beside its real twin without touching the run, and its shadow phase's look promotes to the first
stage or rolls back on those observations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.agents import AgentConfig, RecordEvaluationRequest, RegisterAgentRequest
from contracts.ids import new_id
from contracts.rollouts import GuardLimit, Guards, ShadowSpec
from contracts.task import TaskDispatched, TaskFailed, TaskFailedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.timer import TimerFired, TimerFiredPayload
from quarry_runtime.errors import NotReady
from services.orchestrator.application import Orchestrator
from services.orchestrator.rollouts.domain import Rollout
from services.orchestrator.rollouts.info import rollout_info
from services.orchestrator.rollouts.shadow import sampled
from services.orchestrator.runs.translate import translate
from tests.support.orchestrator import Clock, decide, fail, requested, reserved, timer, work
from tests.support.rollout_requests import OPS, PASSING, start_request

PLAN = {"sub_questions": ["What is a context manager?", "How is it used?"]}
# Limits no handful of observations can fail or miss, so the phase's end turns on min_runs alone.
LOOSE = Guards(
    error_rate=GuardLimit(ratio=1.0, slack=1.0),
    completion_rate=GuardLimit(ratio=0.01, slack=1.0),
    citation_support=GuardLimit(ratio=0.01, slack=1.0),
)


def shadowing(app: Orchestrator, sample_rate: float, min_runs: int = 5, guards: Guards | None = None) -> Rollout:
    found = []
    for n in (3, 4):
        config = AgentConfig(mode="offline", parameters={"max_sub_questions": n})
        found.append(
            app.register_agent_version(
                RegisterAgentRequest(component="planner", config=config, tenant_id="t-ops", actor=OPS)
            )[0]
        )
    app.record_evaluation(
        RecordEvaluationRequest(component="planner", version=found[1], metrics=PASSING, tenant_id="t-ops")
    )
    shadow = ShadowSpec(sample_rate=sample_rate, min_runs=min_runs)
    return app.start_rollout(start_request("planner", found[1], shadow=shadow, guards=guards or Guards()))


def admitted_run(app: Orchestrator, tenant: str) -> str:
    req = requested().model_copy(update={"tenant_id": tenant})
    app.start_run(req)
    app.admit_run(reserved(req, plan="pro"))
    return req.run_id or ""


def dispatched(app: Orchestrator, run_id: str) -> list[TaskDispatched]:
    """Every task dispatch the run's stored events publish, shadows included."""
    found = []
    for n in app.recorder.select_notifications(start=1, limit=100_000):
        event = app.mapper.to_domain_event(n)
        if type(event).__qualname__.startswith("Run.") and str(event.originator_id) == str(app.get_run(run_id).id):
            out = translate(event, lambda i, v: app.repository.get(i, version=v))
            found += [o.event for o in out if isinstance(o.event, TaskDispatched)]
    return found


def shadows(app: Orchestrator, run_id: str) -> list[TaskDispatched]:
    return [d for d in dispatched(app, run_id) if d.payload.shadow]


def planned(app: Orchestrator, tenant: str) -> tuple[str, str]:
    """A run of `tenant`, admitted, and its plan task allowed: dispatched, and shadowed if sampled."""
    run_id = admitted_run(app, tenant)
    (plan,) = app.get_run(run_id).tasks_of("plan")
    app.apply_decision(decide(app.get_run(run_id), plan.task_id))
    return run_id, plan.task_id


def shadowed_run(app: Orchestrator, tenant: str, candidate_output: dict[str, Any] | None) -> str:
    """A run of `tenant` worked to completion beside its shadow, which answers `candidate_output`
    (None: it fails)."""
    run_id, _ = planned(app, tenant)
    (copy,) = shadows(app, run_id)
    work(app, run_id)
    app.finish_task(shadow_answer(copy, candidate_output))
    assert app.get_run(run_id).state == "completed"
    return run_id


def shadow_answer(copy: TaskDispatched, output: dict[str, Any] | None) -> TaskSucceeded | TaskFailed:
    """What a worker answers for a shadow task: its outcome, marked as the dispatch was."""
    p = copy.payload
    marks = {"shadow": True, "shadow_of": p.shadow_of, "rollout_id": p.rollout_id}
    if output is None:
        failed = TaskFailedPayload(task_id=p.task_id, kind=p.kind, reason="boom", **marks)
        return TaskFailed.caused_by(copy, failed)
    return TaskSucceeded.caused_by(copy, TaskSucceededPayload(task_id=p.task_id, kind=p.kind, output=output, **marks))


def look(app: Orchestrator, rollout_id: str) -> None:
    attempt = app.get_rollout(rollout_id).looks
    wake = TimerFiredPayload(timer_id=new_id(), purpose="rollout_look", rollout_id=rollout_id, attempt=attempt)
    app.fire_timer(TimerFired.create(wake, tenant_id="t-ops"))


def test_only_sampled_runs_get_one_shadow_of_each_planner_task_with_the_candidate(app: Orchestrator) -> None:
    rollout = shadowing(app, sample_rate=0.3)
    assert (rollout.status, rollout.percent, rollout.stage_index) == ("shadowing", 0, -1)
    chosen = 0
    for i in range(40):
        run_id, _ = planned(app, f"tenant-{i}")
        arm = app.get_run(run_id).rollouts["planner"]
        assert arm["arm"] == "stable" and app.get_run(run_id).agent_versions["planner"] == rollout.stable
        copies = shadows(app, run_id)
        if not sampled(rollout.rollout_id, run_id, 0.3):
            assert "shadow" not in arm and copies == []
            continue
        chosen += 1
        (real,) = [d for d in dispatched(app, run_id) if not d.payload.shadow]
        (copy,) = copies
        assert arm["shadow"] == rollout.candidate
        assert copy.payload.agent is not None and copy.payload.agent.version == rollout.candidate
        assert (copy.payload.shadow_of, copy.payload.rollout_id) == (real.payload.task_id, rollout.rollout_id)
        assert copy.payload.input == real.payload.input and copy.payload.task_id != real.payload.task_id
    # About 30% of 40 run ids, which are random: bounds a binomial draw leaves about once in a
    # million runs (4..20 failed about one run in 400, as 21 of 40 once did).
    assert 1 <= chosen <= 26


def test_a_retried_task_is_shadowed_once_and_a_shadow_failure_never_touches_the_run(
    app: Orchestrator, clock: Clock
) -> None:
    rollout = shadowing(app, sample_rate=1.0)
    run_id, plan_id = planned(app, "tenant-1")
    (copy,) = shadows(app, run_id)
    # Its real twin has not answered: the shadow's outcome waits (redelivered), recording nothing.
    with pytest.raises(NotReady):
        app.finish_task(shadow_answer(copy, None))
    app.finish_task(fail(app.get_run(run_id), plan_id, retryable=True))
    clock.now += timedelta(seconds=5)
    app.fire_timer(timer(app.get_run(run_id), "task_retry", plan_id))
    assert app.get_run(run_id).tasks[plan_id].attempt == 2
    assert len(shadows(app, run_id)) == 1  # not per retry
    before = app.get_run(run_id).version
    work(app, run_id)
    done = app.get_run(run_id)
    assert done.state == "completed" and done.sub_questions == PLAN["sub_questions"]
    app.finish_task(shadow_answer(copy, None))
    app.finish_task(shadow_answer(copy, None))  # redelivered: recorded once
    after = app.get_run(run_id)
    assert after.version == done.version > before and after.state == "completed"
    held = app.get_rollout(rollout.rollout_id)
    (seen,) = held.shadow_observations
    assert seen["stable"]["succeeded"] and not seen["candidate"]["succeeded"]
    assert seen["similarity"] is None and seen["tenant_id"] == "tenant-1"
    info = rollout_info(held).shadow
    assert info is not None and (info.observations, info.candidate_failures, info.stable_failures) == (1, 1, 0)


def test_the_shadow_phase_promotes_to_the_first_stage_after_its_minimum_runs(app: Orchestrator, clock: Clock) -> None:
    rollout = shadowing(app, sample_rate=1.0, min_runs=4, guards=LOOSE)
    candidate_plan = {"sub_questions": ["What is a context manager?", "Why use one?"]}
    for i in range(4):
        clock.now += timedelta(seconds=5)
        shadowed_run(app, f"tenant-{i % 2}", candidate_plan)
        if i == 2:
            look(app, rollout.rollout_id)
            assert app.get_rollout(rollout.rollout_id).status == "shadowing"  # 3 of 4 observations
    held = app.get_rollout(rollout.rollout_id)
    assert [round(o["similarity"], 3) for o in held.shadow_observations] == [0.333] * 4  # one of three shared
    assert len(held.outcomes) == 4  # the real runs, recorded as the stable arm's as ever
    look(app, rollout.rollout_id)
    after = app.get_rollout(rollout.rollout_id)
    assert (after.status, after.percent, after.stage_index) == ("running", 50, 0)
    promoted = after.decisions[-1]
    assert promoted["kind"] == "promoted" and promoted["evidence"]["percent"] == 0
    assert {g["guard"] for g in promoted["evidence"]["guards"]} == {"error_rate", "completion_rate"}
    assert promoted["evidence"]["candidate"]["runs"] == 4
    # Out of the shadow phase, runs are no longer copied.
    run_id, _ = planned(app, "tenant-9")
    assert not shadows(app, run_id)
    assert "shadow" not in app.get_run(run_id).rollouts["planner"]


def test_a_candidate_failing_its_shadows_is_rolled_back_before_any_tenant_sees_it(
    app: Orchestrator, clock: Clock
) -> None:
    rollout = shadowing(app, sample_rate=1.0, min_runs=200)
    for i in range(60):
        clock.now += timedelta(seconds=5)
        shadowed_run(app, f"tenant-{i % 10}", None)
    look(app, rollout.rollout_id)
    after = app.get_rollout(rollout.rollout_id)
    assert (after.status, after.percent) == ("rolled_back", 0)
    assert "error_rate" in after.decisions[-1]["guards"]
