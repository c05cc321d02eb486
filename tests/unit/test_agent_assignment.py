"""Which agent versions a run uses, fixed at admission: the stable version of each component
(the first registered, until a rollout completes), recorded in the run's log, carried by each
task to its worker, and never changed for a run in flight. And the eval gate's stored verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from contracts.agents import AgentConfig, AgentVersionEvaluated, RecordEvaluationRequest, RegisterAgentRequest
from contracts.envelope import Actor
from contracts.run import RunAdmitted
from contracts.task import TaskDispatched
from quarry_runtime.outbox import Outgoing
from services.orchestrator.agents.translate import translate_agents
from services.orchestrator.application import Orchestrator
from services.orchestrator.runs.translate import translate
from tests.support.orchestrator import decide, published, requested, reserved

PLANNER = AgentConfig(mode="offline", parameters={"max_sub_questions": 3})
BETTER = AgentConfig(mode="offline", parameters={"max_sub_questions": 4})
RANKER = AgentConfig(mode="offline", parameters={"expansion_weight": 0.5})
GOOD = {"recall_at_10": 0.95, "key_in_report": 0.92, "key_in_summary": 0.8, "citation_support": 1.0}


def register(app: Orchestrator, component: Any, config: AgentConfig) -> str:
    ask = RegisterAgentRequest(component=component, config=config, tenant_id="t-ops", actor=Actor(user_id="u-admin"))
    version, _ = app.register_agent_version(ask)
    return version


def translated(domain_event: Any, at: Callable[[Any, int], Any]) -> Sequence[Outgoing]:
    """As the relay maps the stored events of agent versions and of runs."""
    if type(domain_event).__qualname__.startswith("AgentComponent."):
        return translate_agents(domain_event)
    return translate(domain_event, at)


def admit(app: Orchestrator, plan: str = "free") -> str:
    req = requested()
    app.start_run(req)
    app.admit_run(reserved(req, plan=plan))
    return req.run_id or ""


def test_a_run_without_registered_versions_runs_every_component_built_in(app: Orchestrator) -> None:
    run_id = admit(app)
    run = app.get_run(run_id)
    assert (run.agent_versions, run.rollouts) == ({}, {})
    (admitted,) = [o.event for o in published(app, translated) if isinstance(o.event, RunAdmitted)]
    assert admitted.payload.agent_versions == {}


def test_admission_records_the_stable_version_of_each_component_and_tasks_carry_it(app: Orchestrator) -> None:
    planner = register(app, "planner", PLANNER)
    ranker = register(app, "ranker", RANKER)
    register(app, "planner", BETTER)  # registered, not rolled out: runs keep the first
    run_id = admit(app)
    run = app.get_run(run_id)
    assert run.agent_versions == {"planner": planner, "ranker": ranker}
    (plan_task,) = run.tasks_of("plan")
    app.apply_decision(decide(run, plan_task.task_id))
    events = [o.event for o in published(app, translated)]
    (admitted,) = [e for e in events if isinstance(e, RunAdmitted)]
    assert admitted.payload.agent_versions == {"planner": planner, "ranker": ranker}
    assert admitted.payload.rollouts == {}
    (dispatched,) = [e for e in events if isinstance(e, TaskDispatched)]
    assert dispatched.payload.agent is not None
    assert (dispatched.payload.agent.component, dispatched.payload.agent.version) == ("planner", planner)


def test_a_new_stable_version_never_changes_a_run_in_flight(app: Orchestrator) -> None:
    planner = register(app, "planner", PLANNER)
    better = register(app, "planner", BETTER)
    before = admit(app)
    app.make_stable("planner", better, rollout_id="r-1", tenant_id="t-ops")
    after = admit(app)
    assert app.get_run(before).agent_versions == {"planner": planner}
    assert app.get_run(after).agent_versions == {"planner": better}
    run = app.get_run(before)
    (plan_task,) = run.tasks_of("plan")
    app.apply_decision(decide(run, plan_task.task_id))
    dispatched = [o.event for o in published(app, translated) if isinstance(o.event, TaskDispatched)]
    assert [d.payload.agent.version for d in dispatched if d.payload.agent] == [planner]
    assert app.get_run(after).rollouts == {}


def evaluation(component: Any, version: str, metrics: dict[str, float]) -> RecordEvaluationRequest:
    return RecordEvaluationRequest(
        component=component, version=version, metrics=metrics, tenant_id="t-ops", actor=Actor(user_id="u-admin")
    )


def test_the_eval_gate_passes_targets_met_and_refuses_regressions_from_the_stable_version(app: Orchestrator) -> None:
    stable = register(app, "planner", PLANNER)
    candidate = register(app, "planner", BETTER)
    short = {**GOOD, "recall_at_10": 0.75, "fabricated_citations": 0.0}
    # The stable version itself misses a target: that target's floor is its own figure.
    assert not app.record_evaluation(evaluation("planner", stable, short)).passed
    assert app.record_evaluation(evaluation("planner", candidate, {**short, "recall_at_10": 0.76})).passed
    worse = app.record_evaluation(evaluation("planner", candidate, {**short, "recall_at_10": 0.70}))
    assert not worse.passed and worse.failures == ["recall_at_10 0.700 < 0.750"]
    fabricated = app.record_evaluation(evaluation("planner", candidate, {**GOOD, "fabricated_citations": 1.0}))
    assert fabricated.failures == ["fabricated_citations 1.0 != 0"]
    missing = app.record_evaluation(evaluation("planner", candidate, {"recall_at_10": 1.0, "fabricated_citations": 0}))
    assert "key_in_report missing" in missing.failures
    (listed,) = [v for v in app.agent_versions("planner", candidate)]
    assert listed.evaluation == missing and not listed.stable
    assert [v.stable for v in app.agent_versions("planner")] == [True, False]
    announced = [o.event for o in published(app, translated) if isinstance(o.event, AgentVersionEvaluated)]
    assert [e.payload.passed for e in announced] == [False, True, False, False, False]


def test_a_candidate_judged_before_its_stable_version_is_told_to_evaluate_that_first(app: Orchestrator) -> None:
    stable = register(app, "planner", PLANNER)
    candidate = register(app, "planner", BETTER)
    early = app.record_evaluation(
        evaluation("planner", candidate, {**GOOD, "recall_at_10": 0.8, "fabricated_citations": 0})
    )
    assert early.failures == [
        "recall_at_10 0.800 < 0.900",
        f"the stable version {stable} has no evaluation to judge against yet",
    ]


def test_an_evaluation_of_an_unknown_version_is_refused(app: Orchestrator) -> None:
    register(app, "planner", PLANNER)
    with pytest.raises(LookupError, match="planner has no version"):
        app.record_evaluation(evaluation("planner", "0" * 64, GOOD))
