"""A run's log written one event at a time, each at its offset from `START`, with the task and
usage events a run's steps are made of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.envelope import Actor, Event
from contracts.task import (
    TaskDispatched,
    TaskDispatchedPayload,
    TaskFailed,
    TaskFailedPayload,
    TaskSucceeded,
    TaskSucceededPayload,
)
from contracts.usage import UsageRecorded, UsageRecordedPayload

START = datetime(2030, 1, 1, tzinfo=UTC)


class RunLog:
    """`events` holds each event stamped `at` seconds after `START`, as the gateway's log keeps
    it; `written`, the same events as they were created."""

    def __init__(self, tenant_id: str = "t1", run_id: str = "r1") -> None:
        self.ids: dict[str, Any] = {"tenant_id": tenant_id, "run_id": run_id, "actor": Actor(user_id="u")}
        self.written: list[Event] = []
        self.events: list[Event] = []

    def add(self, at: float, event: Event) -> Event:
        self.written.append(event)
        self.events.append(event.model_copy(update={"occurred_at": START + timedelta(seconds=at)}))
        return event

    def as_json(self) -> list[dict[str, Any]]:
        """The events as the log stores them."""
        return [event.model_dump(mode="json") for event in self.events]

    def usage(self, at: float, task_id: str, kind: str, tool: str, **amounts: Any) -> str:
        """A usage record of the task; its event id."""
        payload = UsageRecordedPayload(task_id=task_id, kind=kind, tool=tool, **amounts)
        return self.add(at, UsageRecorded.create(payload, **self.ids)).event_id

    def dispatch(self, at: float, task_id: str, kind: Any, role: Any, attempt: int = 1, **given: Any) -> None:
        payload = TaskDispatchedPayload(task_id=task_id, kind=kind, role=role, attempt=attempt, input=given)
        self.add(at, TaskDispatched.create(payload, **self.ids))

    def succeed(
        self,
        at: float,
        task_id: str,
        kind: Any,
        used: list[str],
        attempt: int = 1,
        output: dict[str, Any] | None = None,
    ) -> None:
        payload = TaskSucceededPayload(
            task_id=task_id, kind=kind, attempt=attempt, output=output or {}, usage_event_ids=used
        )
        self.add(at, TaskSucceeded.create(payload, **self.ids))

    def fail(self, at: float, task_id: str, kind: Any, used: list[str], attempt: int = 1) -> None:
        payload = TaskFailedPayload(
            task_id=task_id, kind=kind, attempt=attempt, reason="timeout", retryable=True, usage_event_ids=used
        )
        self.add(at, TaskFailed.create(payload, **self.ids))
