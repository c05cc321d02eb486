"""Core-NATS request/reply of the orchestrator's agent versions: register one, list them.

The gateway's `/v1/ops/agents` routes ask here, since the control plane keeps the versions and a
registration needs its answer now (the version, or why it is refused). Requests go to a queue
group, so with several replicas exactly one answers each. A registration is a command of the
group commit (`run_command`): answered once stored, and published by the outbox from there.
"""

from __future__ import annotations

import asyncio
import logging
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
from quarry_runtime.replies import Respond, answering, parsed
from services.orchestrator.agents.application import COMPONENTS, AgentUseCases
from services.orchestrator.agents.domain import AgentComponent, AgentError, component_id

log = logging.getLogger(__name__)
QUEUE: Final = "orchestrator-agents"
# Another replica may store the same component's next version first: reload and try again.
ATTEMPTS: Final = 3
SETTLE_S: Final = 5.0


def responders(app: AgentUseCases) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def register(request: RegisterAgentRequest) -> BaseModel:
        aggregate_id = AgentComponent.create_id(component_id(request.component))
        for attempt in range(1, ATTEMPTS + 1):
            try:
                version, created = await app.run_command(lambda: app.register_agent_version(request))
            except AgentError as exc:
                return RegisterAgentReply(error=str(exc), status=422)
            except Exception:
                app.forget_aggregate(aggregate_id)  # the store is the truth: replay it next time
                if attempt == ATTEMPTS:
                    raise
                log.info("registering a %s version: attempt %d failed, reloading", request.component, attempt)
                continue
            return RegisterAgentReply(version=version, created=created)
        raise AssertionError("unreachable")  # pragma: no cover

    async def evaluate(request: RecordEvaluationRequest) -> BaseModel:
        try:
            evaluation = await app.run_command(lambda: app.record_evaluation(request))
        except LookupError as exc:
            return RecordEvaluationReply(error=str(exc), status=404)
        except AgentError as exc:
            return RecordEvaluationReply(error=str(exc), status=422)
        except Exception:
            app.forget_aggregate(AgentComponent.create_id(component_id(request.component)))
            raise
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
    table = responders(app)

    async def job() -> None:
        async with answering(bus, table, queue=QUEUE, who="the orchestrator"):
            await asyncio.Event().wait()

    return job
