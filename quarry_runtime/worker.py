"""Worker lanes: take a dispatched task, run it, report usage and the result.

Every event a worker publishes is derived from the task's dispatch event, so a redelivered
task that runs again publishes the same ids and JetStream drops the copies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts import subjects
from contracts.envelope import Actor
from contracts.task import (
    TaskDispatched,
    TaskFailed,
    TaskFailedPayload,
    TaskSucceeded,
    TaskSucceededPayload,
)
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.bus import Bus, Subscription

log = logging.getLogger(__name__)


class TaskError(Exception):
    """The task cannot succeed (bad input, nothing to work with): it fails, it is not retried."""


@dataclass
class Usage:
    tool: str
    tokens_in: int = 0
    tokens_out: int = 0
    search_calls: int = 0


@dataclass
class WorkResult:
    output: dict[str, Any]
    usage: list[Usage] = field(default_factory=list)


Execute = Callable[[TaskDispatched], Awaitable[WorkResult]]


def lane(bus: Bus, role: str, execute: Execute, durable: str | None = None) -> Subscription:
    """The durable work-queue consumer of one role; replicas of a worker share it."""
    agent = f"quarry-{role}"

    async def handle(task: TaskDispatched) -> None:
        started = time.monotonic()
        p = task.payload
        try:
            result = await execute(task)
        except (TaskError, ValidationError) as exc:
            log.warning("task %s (%s) failed: %s", p.task_id, p.kind, exc)
            failed = TaskFailed.caused_by(
                task, TaskFailedPayload(task_id=p.task_id, kind=p.kind, reason=str(exc)[:1000])
            )
            await bus.publish(_as(failed, agent))
            return
        seconds = round(time.monotonic() - started, 3)
        usage_ids: list[str] = []
        for i, use in enumerate(result.usage or [Usage(tool="compute")]):
            usage = UsageRecorded.caused_by(
                task,
                UsageRecordedPayload(
                    task_id=p.task_id,
                    kind=p.kind,
                    tool=use.tool,
                    tokens_in=use.tokens_in,
                    tokens_out=use.tokens_out,
                    search_calls=use.search_calls,
                    seconds=seconds if i == 0 else 0.0,
                ),
                name=f"usage:{i}",
            )
            await bus.publish(_as(usage, agent))
            usage_ids.append(usage.event_id)
        done = TaskSucceeded.caused_by(
            task, TaskSucceededPayload(task_id=p.task_id, kind=p.kind, output=result.output, usage_event_ids=usage_ids)
        )
        await bus.publish(_as(done, agent))

    async def give_up(task: TaskDispatched, reason: str) -> None:
        p = task.payload
        failed = TaskFailed.caused_by(task, TaskFailedPayload(task_id=p.task_id, kind=p.kind, reason=reason[:1000]))
        await bus.publish(_as(failed, agent))

    return Subscription(subjects.task_lane(role), durable or f"{role}-lane", handle, batch=4, on_give_up=give_up)


def _as(event: Any, agent: str) -> Any:
    """The same event with this worker named as the acting agent."""
    actor = Actor(user_id=event.actor.user_id, agent=agent, roles=event.actor.roles)
    return event.model_copy(update={"actor": actor})
