"""The task saga a run and a follow-up question both are. Pure: no I/O, no clock.

A task goes requested (its tool request is out to policy) -> dispatched (attempt n, with a
deadline) -> succeeded, or failed, or denied by policy; how a failed attempt is retried is each
saga's own. `bus_events` holds the ids of the bus events already applied, recorded in the same
stored event as their effect, so a redelivered event changes nothing.

The shared events are declared here once and redefined on each aggregate class by eventsourcing,
so a run's stored events are named by the run's class and a question's by the question's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from eventsourcing.domain import Aggregate

from services.orchestrator.owned import Owned
from services.orchestrator.tasks import TaskPolicy, answer_deadline

SETTLED = frozenset({"succeeded", "failed", "denied"})


@dataclass
class TaskState:
    task_id: str
    kind: str
    role: str
    tool: str
    input: dict[str, Any]
    max_attempts: int
    timeout_s: float
    # requested | awaiting_approval | dispatched | retrying | succeeded | failed | denied
    status: str = "requested"
    attempt: int = 0
    output: dict[str, Any] | None = None
    reason: str = ""
    usage_event_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Tool requests policy refused for a while only (a rate limit) and that were asked again.
    throttles: int = 0
    # Whose fault its last failure was (contracts.task.Fault): the tenant's is charged, not refunded.
    fault: str = "platform"
    # How long the approval policy asked for may take, while it waits behind another approval.
    approval_timeout_s: int | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in ("requested", "dispatched")

    @property
    def done(self) -> bool:
        return self.status == "succeeded"

    def is_running(self, attempt: int | None) -> bool:
        """Whether `attempt` is the task's attempt out with a worker now (not settled, not replaced)."""
        return self.status == "dispatched" and self.attempt == attempt

    def add_usage(self, usage_event_ids: list[str]) -> None:
        self.usage_event_ids = list(dict.fromkeys([*self.usage_event_ids, *usage_event_ids]))


class TaskSaga(Owned):
    """Tasks and the bus events applied to them; subclasses name their policies and errors."""

    policies: ClassVar[Mapping[str, TaskPolicy]]
    error: ClassVar[type[Exception]]
    terminal: ClassVar[frozenset[str]]

    if TYPE_CHECKING:  # set by each saga's created event; annotations here would become its fields
        state: str
        tasks: dict[str, TaskState]
        guardrail_trips: list[dict[str, Any]]

    def _begin(
        self, state: str, tenant_id: str, user_id: str | None, roles: list[str], traceparent: str | None, cause: str
    ) -> None:
        """What every saga's created event sets: whose it is, no tasks yet, the bus event that opened it."""
        self.state = state
        self._own(tenant_id, user_id, roles, cause)
        self.traceparent = traceparent
        self.tasks = {}
        self.failure: str | None = None
        self.guardrail_trips = []

    # -- hooks -----------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How errors name this saga ("run <id>")."""
        raise NotImplementedError

    def _check_live(self) -> None:
        """Refuse a command the saga's state no longer takes (a question refuses once ended)."""

    def _check_step(self, kind: str) -> None:
        """Refuse a task the saga cannot start now (a run checks the step's state)."""

    def _task_added(self, task: TaskState) -> None:
        """A task was requested (a run moves to the step's state)."""

    def _task_done(self, task: TaskState) -> None:
        """A task succeeded (a run keeps what its next steps need of the output)."""

    # -- queries ---------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        return self.state in self.terminal

    def tasks_of(self, kind: str) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.kind == kind]

    def usage_event_ids(self) -> list[str]:
        return [u for t in self.tasks.values() for u in t.usage_event_ids]

    def task(self, task_id: str) -> TaskState:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise self.error(f"{self.label} has no task {task_id}") from None

    def _awaiting_policy(self, task_id: str) -> TaskState:
        """The task, refused unless its tool request waits for policy's answer."""
        task = self.task(task_id)
        if task.status != "requested":
            raise self.error(f"task {task_id} is {task.status}, not awaiting policy")
        return task

    def requested_task(self, task_id: str) -> TaskState | None:
        """The task while its tool request waits for policy; None once answered (a stale decision)."""
        task = self.task(task_id)
        return task if task.status == "requested" else None

    def _open_task(self, task_id: str) -> TaskState:
        """The live task, refused when it is already settled."""
        self._check_live()
        task = self.task(task_id)
        if task.status in SETTLED:
            raise self.error(f"task {task_id} is already {task.status}")
        return task

    # -- commands --------------------------------------------------------------------------

    def request_task(self, task_id: str, kind: str, task_input: dict[str, Any]) -> None:
        """Ask policy for the task's tool; it is dispatched once allowed."""
        self._check_live()
        if task_id in self.tasks:
            raise self.error(f"task {task_id} was already requested")
        self._check_step(kind)
        policy = self.policies[kind]
        self.trigger_event(
            type(self).TaskRequested,
            task_id=task_id,
            kind=kind,
            role=policy.role,
            tool=policy.tool,
            task_input=task_input,
            max_attempts=policy.max_attempts,
            timeout_s=policy.timeout_s,
        )

    def authorise_task(
        self, task_id: str, policy_ids: list[str], policy_version: str, cause: str, now: datetime
    ) -> None:
        """Policy allowed the tool: dispatch the first attempt."""
        self._check_live()
        task = self._awaiting_policy(task_id)
        self.trigger_event(
            type(self).TaskAuthorised,
            task_id=task_id,
            policy_ids=policy_ids,
            policy_version=policy_version,
            cause=cause,
        )
        self._dispatch(task, now)

    def _dispatch(self, task: TaskState, now: datetime, cause: str | None = None) -> None:
        timeout_at = now + answer_deadline(task.timeout_s)
        self.trigger_event(
            type(self).TaskDispatched,
            task_id=task.task_id,
            attempt=task.attempt + 1,
            timeout_at=timeout_at,
            cause=cause,
        )

    def deny_task(self, task_id: str, reasons: list[str], policy_ids: list[str], cause: str) -> None:
        """Policy refused the tool for good: the task is denied."""
        self._check_live()
        self.task(task_id)
        self.trigger_event(type(self).TaskDenied, task_id=task_id, reasons=reasons, policy_ids=policy_ids, cause=cause)

    def record_success(self, task_id: str, output: dict[str, Any], usage_event_ids: list[str], cause: str) -> None:
        self._open_task(task_id)
        self.trigger_event(
            type(self).TaskSucceeded, task_id=task_id, output=output, usage_event_ids=usage_event_ids, cause=cause
        )

    def _fail_task(
        self, task: TaskState, reason: str, usage_event_ids: list[str], cause: str | None, fault: str = "platform"
    ) -> None:
        self.trigger_event(
            type(self).TaskFailed,
            task_id=task.task_id,
            reason=reason,
            usage_event_ids=usage_event_ids,
            cause=cause,
            fault=fault,
        )

    def trip_guardrail(
        self, guardrail: str, where: str, action: str, counts: dict[str, int], cause: str | None = None
    ) -> None:
        self.trigger_event(
            type(self).GuardrailTripped, guardrail=guardrail, where=where, action=action, counts=counts, cause=cause
        )

    def _note_failed_attempt(
        self, task_id: str, attempt: int, reason: str, usage_event_ids: list[str], cause: str | None
    ) -> TaskState:
        """Record an attempt's failure on its task (each saga's AttemptFailed decides what follows)."""
        task = self.tasks[task_id]
        task.errors.append(f"attempt {attempt}: {reason}")
        task.add_usage(usage_event_ids)
        self._applied(cause)
        return task

    def _applied(self, cause: str | None) -> None:
        if cause:
            self.bus_events.add(cause)

    # -- events ----------------------------------------------------------------------------

    class TaskRequested(Aggregate.Event):
        task_id: str
        kind: str
        role: str
        tool: str
        task_input: dict[str, Any]
        max_attempts: int = 3
        timeout_s: float = 300.0

        def apply(self, aggregate: Any) -> None:
            task = TaskState(
                self.task_id, self.kind, self.role, self.tool, dict(self.task_input), self.max_attempts, self.timeout_s
            )
            aggregate.tasks[self.task_id] = task
            aggregate._task_added(task)

    class TaskAuthorised(Aggregate.Event):
        task_id: str
        policy_ids: list[str]
        policy_version: str
        cause: str

        def apply(self, aggregate: Any) -> None:
            aggregate.bus_events.add(self.cause)

    class TaskDispatched(Aggregate.Event):
        task_id: str
        attempt: int
        timeout_at: datetime
        cause: str | None = None

        def apply(self, aggregate: Any) -> None:
            task = aggregate.tasks[self.task_id]
            task.status = "dispatched"
            task.attempt = self.attempt
            aggregate._applied(self.cause)

    class TaskDenied(Aggregate.Event):
        task_id: str
        reasons: list[str]
        policy_ids: list[str]
        cause: str

        def apply(self, aggregate: Any) -> None:
            task = aggregate.tasks[self.task_id]
            task.status = "denied"
            task.reason = "; ".join(self.reasons) or "denied by policy"
            task.fault = "tenant"  # its own policy, plan or budget refused the tool
            aggregate.bus_events.add(self.cause)

    class TaskSucceeded(Aggregate.Event):
        task_id: str
        output: dict[str, Any]
        usage_event_ids: list[str]
        cause: str

        def apply(self, aggregate: Any) -> None:
            task = aggregate.tasks[self.task_id]
            task.status = "succeeded"
            task.output = self.output
            task.add_usage(self.usage_event_ids)
            aggregate._task_done(task)
            aggregate.bus_events.add(self.cause)

    class TaskFailed(Aggregate.Event):
        task_id: str
        reason: str
        usage_event_ids: list[str]
        cause: str | None
        fault: str = "platform"

        def apply(self, aggregate: Any) -> None:
            task = aggregate.tasks[self.task_id]
            task.status = "failed"
            task.fault = self.fault
            task.reason = self.reason if not task.errors else f"{self.reason} (after {task.attempt} attempts)"
            task.add_usage(self.usage_event_ids)
            aggregate._applied(self.cause)

    class GuardrailTripped(Aggregate.Event):
        guardrail: str
        where: str
        action: str
        counts: dict[str, int]
        cause: str | None = None

        def apply(self, aggregate: Any) -> None:
            trip = {"guardrail": self.guardrail, "where": self.where, "action": self.action, "counts": self.counts}
            aggregate.guardrail_trips.append(trip)
            aggregate._applied(self.cause)
