"""Core-NATS request/reply of the orchestrator's agent versions: register one, list them.

The gateway's `/v1/ops/agents` routes ask here, since the control plane keeps the versions and a
registration needs its answer now (the version, or why it is refused). Requests go to a queue
group, so with several replicas exactly one answers each. A registration is a command of the
group commit (`run_command`): answered once stored, and published by the outbox from there.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from pydantic import BaseModel

from contracts import subjects
from contracts.agents import (
    AgentVersionsQuery,
    AgentVersionsReply,
    RecordEvaluationReply,
    RecordEvaluationRequest,
    RegisterAgentReply,
    RegisterAgentRequest,
)
from quarry_runtime.bus import Bus
from quarry_runtime.replies import Respond, parsed, serving
from services.orchestrator.agents.application import COMPONENTS, AgentUseCases
from services.orchestrator.agents.domain import AgentComponent, AgentError, component_id

QUEUE: Final = "orchestrator-agents"
# Another replica may store the same component's next version first: reload and try again.
ATTEMPTS: Final = 3
SETTLE_S: Final = 5.0


def responders(app: AgentUseCases) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def register(request: RegisterAgentRequest) -> BaseModel:
        touched = [AgentComponent.create_id(component_id(request.component))]
        try:
            version, created = await app.run_command_retrying(
                lambda: app.register_agent_version(request),
                touched,
                refusals=(AgentError,),
                attempts=ATTEMPTS,
                what=f"registering a {request.component} version",
            )
        except AgentError as exc:
            return RegisterAgentReply(error=str(exc), status=422)
        return RegisterAgentReply(version=version, created=created)

    async def evaluate(request: RecordEvaluationRequest) -> BaseModel:
        touched = [AgentComponent.create_id(component_id(request.component))]
        try:
            evaluation = await app.run_command_retrying(
                lambda: app.record_evaluation(request),
                touched,
                refusals=(LookupError, AgentError),
                attempts=1,  # a failed save is forgotten and answered as a failure
                what=f"recording a {request.component} evaluation",
            )
        except LookupError as exc:
            return RecordEvaluationReply(error=str(exc), status=404)
        except AgentError as exc:
            return RecordEvaluationReply(error=str(exc), status=422)
        return RecordEvaluationReply(evaluation=evaluation)

    async def versions(query: AgentVersionsQuery) -> BaseModel:
        # Read what is stored: a registration staged but not yet committed is not listed.
        for name in (query.component,) if query.component else COMPONENTS:
            await app.until_settled(AgentComponent.create_id(component_id(name)), SETTLE_S)
        return AgentVersionsReply(versions=app.agent_versions(query.component, query.version))

    return {
        subjects.AGENT_REGISTER: parsed(
            RegisterAgentRequest, RegisterAgentReply, "agent registration", register, status=400
        ),
        subjects.AGENT_EVALUATION: parsed(
            RecordEvaluationRequest, RecordEvaluationReply, "agent evaluation", evaluate, status=400
        ),
        subjects.AGENT_VERSIONS: parsed(
            AgentVersionsQuery, AgentVersionsReply, "agent versions query", versions, status=400
        ),
    }


def serve(bus: Bus, app: AgentUseCases) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests until cancelled."""
    return serving(bus, responders(app), queue=QUEUE, who="the orchestrator")
