"""Work handed to worker lanes, and what comes back.

`input` and `output` are typed per task kind by the models in `contracts.work`; they travel
as plain objects so a lane can take a new kind without a new envelope.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from contracts import subjects
from contracts.agents import AgentRef
from contracts.envelope import Contract, Event

TaskKind = Literal[
    "plan", "search", "fetch", "read", "collect", "synthesise", "verify", "index", "report", "recall", "answer"
]
Role = Literal["analyst", "retriever", "reporter"]
# Whose fault a failure is: the tenant's (its own model endpoint, a tool its policy denies, a
# question its sources cannot answer) or the platform's (a service error, retries exhausted on
# the platform's side, the platform's own model down). Billing charges the first, refunds the second.
Fault = Literal["tenant", "platform"]


class TaskDispatchedPayload(Contract):
    task_id: str
    kind: TaskKind
    role: Role
    attempt: int = Field(default=1, ge=1)
    timeout_s: float = Field(default=300.0, gt=0, description="after this the orchestrator retries the task")
    input: dict[str, Any]
    agent: AgentRef | None = Field(
        default=None,
        description="the version of the component this task runs, as the run recorded it at admission; "
        "None: the worker's built-in settings (no version of the component is registered)",
    )
    shadow: bool = Field(
        default=False,
        description="a rollout's shadow: the candidate version on a real task's input; its result never "
        "reaches the run and its usage is billed to the platform",
    )
    shadow_of: str | None = Field(default=None, max_length=200, description="the real task a shadow task copies")
    rollout_id: str | None = Field(default=None, max_length=100, description="the rollout a shadow task serves")


class TaskDispatched(Event, subject=subjects.TASK_DISPATCHED, type="task.dispatched"):
    """Published on the role's lane, `task.v1.dispatched.<role>`."""

    payload: TaskDispatchedPayload


class TaskAttempt(Contract):
    """The attempt at a task that an outcome answers."""

    task_id: str
    kind: TaskKind
    attempt: int = Field(default=1, ge=1)
    # Echoed from the dispatch: a shadow task's outcome goes to its rollout, never to the run.
    shadow: bool = False
    shadow_of: str | None = Field(default=None, max_length=200)
    rollout_id: str | None = Field(default=None, max_length=100)


class TaskSucceededPayload(TaskAttempt):
    output: dict[str, Any]
    usage_event_ids: list[str] = Field(default_factory=list)


class TaskSucceeded(Event, subject=subjects.TASK_SUCCEEDED, type="task.succeeded"):
    payload: TaskSucceededPayload


class TaskFailedPayload(TaskAttempt):
    reason: str
    retryable: bool = False
    usage_event_ids: list[str] = Field(default_factory=list)
    fault: Fault = Field(default="platform", description="whose fault the failure is (see `Fault`)")


class TaskFailed(Event, subject=subjects.TASK_FAILED, type="task.failed"):
    payload: TaskFailedPayload
