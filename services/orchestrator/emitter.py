"""The contract events one stored event publishes, with ids fixed by the stored event's position.

The relay may publish a stored event again (a crash before its position is saved, another
replica); JetStream drops the second copy only if its `Nats-Msg-Id`, the contract event's id,
is the same. So the n-th contract event of a stored event always gets the same id, made here
and nowhere else, by every translator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from contracts import subjects
from contracts.agents import AgentRef
from contracts.envelope import Actor, Event, TraceContext
from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
from contracts.ids import stable_id
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolRequested, ToolRequestedPayload
from quarry_runtime.outbox import Outgoing
from services.orchestrator.rollouts.shadow import shadow_task_id
from services.orchestrator.saga import TaskSaga, TaskState

AGENT = "quarry-orchestrator"

M = TypeVar("M", bound=BaseModel)


def event_id_at(domain_event: Any, n: int) -> str:
    """The id of the n-th contract event that `domain_event` publishes."""
    version = domain_event.originator_version
    at_ms = int(domain_event.timestamp.timestamp() * 1000)
    return stable_id(f"{domain_event.originator_id}:{version}:{n}", at_ms, sequence=version * 8 + n)


def copied(model: type[M], source: Any, **fields: Any) -> M:
    """A contract model from what `source` (a stored event, an aggregate's state) holds under the
    model's field names, with `fields` besides or instead."""
    held = {name: getattr(source, name) for name in model.model_fields if name not in fields and hasattr(source, name)}
    return model.model_validate({**held, **fields})


class Emitter:
    """Collects the contract events of one stored event, on behalf of one aggregate's actor."""

    def __init__(
        self,
        domain_event: Any,
        *,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        run_id: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.domain_event = domain_event
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.actor = Actor(user_id=user_id, agent=AGENT, roles=roles)
        self.trace = TraceContext(traceparent=traceparent)
        # Events caused by a bus event name it; the others (a timer the saga set itself) do not.
        self.cause: str | None = getattr(domain_event, "cause", None)
        self.out: list[Outgoing] = []

    @classmethod
    def of_saga(cls, domain_event: Any, saga: TaskSaga, correlation_id: str) -> Self:
        """The emitter of a run's or a question's event: its owner, its trace, its id as the run id."""
        return cls(
            domain_event,
            tenant_id=saga.tenant_id,
            user_id=saga.user_id,
            roles=saga.roles,
            run_id=correlation_id,
            traceparent=saga.traceparent,
        )

    def emit(
        self,
        cls: type[Event],
        payload: Any,
        *,
        subject: str | None = None,
        at: datetime | None = None,
        event_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Publish `payload` as a `cls` (on `subject`, or as a durable timer due `at`)."""
        n = len(self.out)
        event = cls.create(
            payload,
            tenant_id=self.tenant_id,
            run_id=run_id or self.run_id,
            actor=self.actor,
            causation_id=self.cause,
            event_id=event_id or event_id_at(self.domain_event, n),
            trace=self.trace,
        )
        self.out.append(Outgoing(event, subject or cls.SUBJECT, at))

    def request_tool(self, task: TaskState, plan: str, delegation: str | None, request_no: int = 1) -> None:
        """Ask policy for a task's tool: the request carries the task's plain-valued arguments."""
        arguments = {k: v for k, v in task.input.items() if isinstance(v, str | int | float | bool)}
        request = ToolRequestedPayload(
            request_id=f"{task.task_id}:{request_no}",
            tool=task.tool,
            task_id=task.task_id,
            step=task.kind,
            plan=plan,
            roles=self.actor.roles,
            arguments=arguments,
            delegation=delegation,
        )
        self.emit(ToolRequested, request)

    def dispatch(self, task: TaskState, task_input: dict[str, Any], agent: tuple[str, str] | None = None) -> None:
        """Send the task's current attempt, with its whole input and the (component, version) it
        runs, to its role's lane."""
        ref = None if agent is None else AgentRef.model_validate({"component": agent[0], "version": agent[1]})
        dispatch = copied(TaskDispatchedPayload, task, input=task_input, agent=ref)
        self.emit(TaskDispatched, dispatch, subject=subjects.task_lane(task.role))

    def dispatch_shadow(
        self, task: TaskState, task_input: dict[str, Any], agent: tuple[str, str], rollout_id: str
    ) -> None:
        """Send a copy of the task to its lane for a shadowing rollout: the candidate `agent` on
        the same input, under its own id (rollouts.shadow), with no timer: the run never waits
        for it, and the worker's own time box ends it."""
        ref = AgentRef.model_validate({"component": agent[0], "version": agent[1]})
        copy = copied(
            TaskDispatchedPayload,
            task,
            task_id=shadow_task_id(task.task_id),
            attempt=1,
            input=task_input,
            agent=ref,
            shadow=True,
            shadow_of=task.task_id,
            rollout_id=rollout_id,
        )
        self.emit(TaskDispatched, copy, subject=subjects.task_lane(task.role))

    def timer(self, at: datetime, wake: TimerFiredPayload) -> None:
        """Set a durable timer due `at`: its id is the event's, so setting it again sets nothing new."""
        self.emit(TimerFired, wake, at=at, event_id=wake.timer_id)

    def guardrail_tripped(self, trip: Any, **about: Any) -> None:
        """Publish a stored guardrail trip (which, where, what was done, the counts), `about` what."""
        self.emit(GuardrailTripped, copied(GuardrailTrippedPayload, trip, **about))
