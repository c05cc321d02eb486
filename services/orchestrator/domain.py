"""The Run aggregate: every fact about a run is one of its stored events. Pure: no I/O.

A run's tasks go requested (a tool request is out to policy) -> authorised / denied ->
succeeded / failed. `bus_events` records the ids of the bus events already applied, in the
same stored event as their effect, so a redelivered event changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.domain import Aggregate, event

TERMINAL = frozenset({"completed", "failed", "rejected", "cancelled", "expired"})

# step -> (worker role, tool the step uses)
STEP_ROUTES: dict[str, tuple[str, str]] = {
    "plan": ("analyst", "llm_generate"),
    "search": ("retriever", "web_search"),
    "synthesise": ("analyst", "llm_generate"),
    "report": ("reporter", "publish_report"),
}


class RunError(Exception):
    """A command that the run's current state refuses."""


@dataclass
class TaskState:
    task_id: str
    kind: str
    role: str
    tool: str
    input: dict[str, Any]
    status: str = "requested"  # requested | authorised | succeeded | failed | denied
    output: dict[str, Any] | None = None
    reason: str = ""
    usage_event_ids: list[str] = field(default_factory=list)


class Run(Aggregate):
    """One research run, folded from its events."""

    @staticmethod
    def create_id(run_id: str) -> uuid.UUID:
        return uuid.UUID(run_id)

    @event("Requested")
    def __init__(
        self,
        run_id: str,
        tenant_id: str,
        user_id: str | None,
        roles: list[str],
        question: str,
        depth: int,
        max_sources: int,
        cause: str,
        traceparent: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.roles = list(roles)
        self.question = question
        self.depth = depth
        self.max_sources = max_sources
        self.state = "requested"
        self.plan = "free"
        self.credits_reserved = 0
        self.sub_questions: list[str] = []
        self.tasks: dict[str, TaskState] = {}
        self.failure: str | None = None
        self.bus_events: set[str] = {cause}
        self.traceparent = traceparent

    # -- queries ---------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    def has_seen(self, bus_event_id: str) -> bool:
        return bus_event_id in self.bus_events

    def tasks_of(self, kind: str) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.kind == kind]

    def usage_event_ids(self) -> list[str]:
        return [u for t in self.tasks.values() for u in t.usage_event_ids]

    def task(self, task_id: str) -> TaskState:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise RunError(f"run {self.run_id} has no task {task_id}") from None

    # -- commands --------------------------------------------------------------------------

    def admit(self, credits: int, plan: str, cause: str) -> None:
        self._require_state("requested")
        self._admitted(credits=credits, plan=plan, cause=cause)

    @event("Admitted")
    def _admitted(self, credits: int, plan: str, cause: str) -> None:
        self.state = "admitted"
        self.credits_reserved = credits
        self.plan = plan
        self.bus_events.add(cause)

    def reject(self, reason: str, cause: str) -> None:
        self._require_state("requested")
        self._rejected(reason=reason, cause=cause)

    @event("Rejected")
    def _rejected(self, reason: str, cause: str) -> None:
        self.state = "rejected"
        self.failure = reason
        self.bus_events.add(cause)

    def request_task(self, task_id: str, kind: str, task_input: dict[str, Any]) -> None:
        if self.is_terminal:
            raise RunError(f"run {self.run_id} is {self.state}")
        if task_id in self.tasks:
            raise RunError(f"task {task_id} was already requested")
        role, tool = STEP_ROUTES[kind]
        self._task_requested(task_id=task_id, kind=kind, role=role, tool=tool, task_input=task_input)

    @event("TaskRequested")
    def _task_requested(self, task_id: str, kind: str, role: str, tool: str, task_input: dict[str, Any]) -> None:
        self.tasks[task_id] = TaskState(task_id, kind, role, tool, dict(task_input))
        self.state = {"plan": "planning", "report": "reporting"}.get(kind, "running")

    @event("TaskAuthorised")
    def authorise_task(self, task_id: str, policy_ids: list[str], policy_version: str, cause: str) -> None:
        self.tasks[task_id].status = "authorised"
        self.bus_events.add(cause)

    @event("TaskDenied")
    def deny_task(self, task_id: str, reasons: list[str], policy_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "denied"
        task.reason = "; ".join(reasons) or "denied by policy"
        self.bus_events.add(cause)

    @event("TaskSucceeded")
    def record_success(self, task_id: str, output: dict[str, Any], usage_event_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "succeeded"
        task.output = output
        task.usage_event_ids = list(usage_event_ids)
        if task.kind == "plan":
            self.sub_questions = list(output.get("sub_questions", []))
        self.bus_events.add(cause)

    @event("TaskFailed")
    def record_failure(self, task_id: str, reason: str, usage_event_ids: list[str], cause: str) -> None:
        task = self.tasks[task_id]
        task.status = "failed"
        task.reason = reason
        task.usage_event_ids = list(usage_event_ids)
        self.bus_events.add(cause)

    def complete(self) -> None:
        if self.is_terminal:
            raise RunError(f"run {self.run_id} is already {self.state}")
        self._completed()

    @event("Completed")
    def _completed(self) -> None:
        self.state = "completed"

    def fail(self, reason: str, step: str | None) -> None:
        if self.is_terminal:
            raise RunError(f"run {self.run_id} is already {self.state}")
        self._failed(reason=reason, step=step)

    @event("Failed")
    def _failed(self, reason: str, step: str | None) -> None:
        self.state = "failed"
        self.failure = reason

    def _require_state(self, *states: str) -> None:
        if self.state not in states:
            raise RunError(f"run {self.run_id} is {self.state}, expected {' or '.join(states)}")
