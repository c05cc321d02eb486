"""An orchestrator's planner rollout driven through its use cases, as the unit tests drive it:
two registered versions, a rollout started, runs worked to their end, a look fired."""

from __future__ import annotations

from typing import Any

from contracts.agents import AgentConfig, RecordEvaluationRequest, RegisterAgentRequest
from contracts.ids import new_id
from contracts.timer import TimerFired, TimerFiredPayload
from services.orchestrator.application import Orchestrator
from services.orchestrator.rollouts.domain import Rollout
from tests.support.orchestrator import decide, fail, requested, reserved, work
from tests.support.rollout_requests import OPS, PASSING, start_request

STABLE_CONFIG = AgentConfig(mode="offline", parameters={"max_sub_questions": 3})
CANDIDATE_CONFIG = AgentConfig(mode="offline", parameters={"max_sub_questions": 4})


def versions(app: Orchestrator, evaluated: dict[str, float] | None = PASSING) -> tuple[str, str]:
    """The planner's stable and candidate versions, the candidate evaluated with `evaluated`."""
    found = []
    for config in (STABLE_CONFIG, CANDIDATE_CONFIG):
        ask = RegisterAgentRequest(component="planner", config=config, tenant_id="t-ops", actor=OPS)
        found.append(app.register_agent_version(ask)[0])
    if evaluated is not None:
        gate = RecordEvaluationRequest(component="planner", version=found[1], metrics=evaluated, tenant_id="t-ops")
        app.record_evaluation(gate)
    return found[0], found[1]


def start(app: Orchestrator, candidate: str, **spec: Any) -> Rollout:
    return app.start_rollout(start_request("planner", candidate, **({"look_every_s": 60} | spec)))


def admitted(app: Orchestrator, tenant: str) -> str:
    """A run of `tenant` on the pro plan, admitted (its versions chosen) and not yet worked."""
    req = requested().model_copy(update={"tenant_id": tenant})
    app.start_run(req)
    app.admit_run(reserved(req, plan="pro"))
    return req.run_id or ""


def run_of(app: Orchestrator, tenant: str, candidate_fails: bool = False) -> str:
    """A run of `tenant`, admitted and worked to its end; its plan fails for good on the candidate."""
    run_id = admitted(app, tenant)
    run = app.get_run(run_id)
    if candidate_fails and run.rollouts["planner"]["arm"] == "candidate":
        (plan,) = run.tasks_of("plan")
        app.apply_decision(decide(run, plan.task_id))
        app.finish_task(fail(app.get_run(run_id), plan.task_id, retryable=False))
    work(app, run_id)
    return run_id


def look(app: Orchestrator, rollout_id: str, attempt: int | None = None) -> None:
    rollout = app.get_rollout(rollout_id)
    payload = TimerFiredPayload(
        timer_id=new_id(), purpose="rollout_look", rollout_id=rollout_id, attempt=attempt or rollout.looks
    )
    app.fire_timer(TimerFired.create(payload, tenant_id="t-ops"))
