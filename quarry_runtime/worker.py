"""Worker lanes: take a dispatched task, run it once, report usage and the result.

A task's result is journalled (NATS KV, keyed by task id) as soon as it is computed, before
anything is published: a worker killed after paying for a search or a model call, or a task
dispatched again after a timeout, finds the result there and does not pay twice. Usage events
take ids derived from the task, so the same work is metered once however often it is reported;
the result events derive from the dispatch, so a redelivered dispatch publishes duplicates that
JetStream drops.

The journal and the bus are NATS: while the server is away (restarting, a node lost, its
storage full) their calls fail, and that is no fault of the task. Those failures become
`Unavailable` (the bus's publish says so itself, the journal here), which the bus waits out
instead of counting toward dead-lettering; a result computed but not yet journalled when that
happens is kept in the process, so the redelivery journals it instead of paying for the work again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, get_args

from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from contracts import consumers, subjects
from contracts.envelope import Actor
from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
from contracts.ids import derived_id
from contracts.task import (
    Fault,
    TaskDispatched,
    TaskDispatchedPayload,
    TaskFailed,
    TaskFailedPayload,
    TaskKind,
    TaskSucceeded,
    TaskSucceededPayload,
)
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.busfaults import nats_outage_is_unavailable
from quarry_runtime.metrics import TASK_SECONDS, Bounded
from quarry_runtime.spans import span

log = logging.getLogger(__name__)

JOURNAL_BUCKET = "quarry_task_journal"
JOURNAL_TTL_S = 14 * 24 * 3600
# Results computed but not journalled (NATS away) kept per process until the journal takes them;
# bounded, since a long outage may see many tasks finish.
UNJOURNALLED_MAX = 1_000
KINDS = Bounded(get_args(TaskKind))


class TaskError(Exception):
    """The task cannot succeed as asked. `retryable`: another attempt later might. `trip`: the
    guardrail that stopped it, published before the failure."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool = False,
        trip: GuardrailTrippedPayload | None = None,
        fault: Fault = "platform",
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.trip = trip
        self.fault: Fault = fault


@dataclass
class Usage:
    tool: str
    tokens_in: int = 0
    tokens_out: int = 0
    search_calls: int = 0
    model: str | None = None  # the model that produced the tokens, when one did


@dataclass
class WorkResult:
    output: dict[str, Any]
    usage: list[Usage] = field(default_factory=list)
    seconds: float = 0.0
    trips: list[GuardrailTrippedPayload] = field(default_factory=list)


Execute = Callable[[TaskDispatched], Awaitable[WorkResult]]


class TaskJournal(Protocol):
    async def get(self, task_id: str) -> WorkResult | None: ...
    async def put(self, task_id: str, result: WorkResult) -> None: ...


class KvJournal:
    """Task results in a JetStream key-value bucket, shared by every replica of every worker."""

    def __init__(self, bus: Bus, bucket: str = JOURNAL_BUCKET) -> None:
        self.bus = bus
        self.bucket = bucket
        self._kv = bus.buckets.key_value(bucket, ttl_s=JOURNAL_TTL_S)

    async def _store(self) -> KeyValue:
        return await self._kv.open()

    async def get(self, task_id: str) -> WorkResult | None:
        with nats_outage_is_unavailable(f"task journal {self.bucket}"):
            try:
                entry = await (await self._store()).get(task_id)
            except (KeyNotFoundError, KeyDeletedError):
                return None
        if not entry.value:
            return None
        data = json.loads(entry.value)
        return WorkResult(
            output=data["output"],
            usage=[Usage(**u) for u in data["usage"]],
            seconds=data["seconds"],
            trips=[GuardrailTrippedPayload.model_validate(t) for t in data.get("trips", [])],
        )

    async def put(self, task_id: str, result: WorkResult) -> None:
        body = {
            "output": result.output,
            "usage": [asdict(u) for u in result.usage],
            "seconds": result.seconds,
            "trips": [t.model_dump() for t in result.trips],
        }
        with nats_outage_is_unavailable(f"task journal {self.bucket}"):
            await (await self._store()).put(task_id, json.dumps(body).encode())


def lane(
    bus: Bus, role: str, execute: Execute, durable: str | None = None, journal: TaskJournal | None = None
) -> Subscription:
    """The durable work-queue consumer of one role; replicas of a worker share it."""
    agent = f"quarry-{role}"
    journal = journal if journal is not None else KvJournal(bus)
    # One execution per task at a time in this process: copies of one task fetched in the same
    # batch run concurrently, and the later ones must wait for the journal, not race past it.
    # (Across replicas, in-progress acks keep a running task from being redelivered elsewhere.)
    running: dict[str, asyncio.Lock] = {}
    # Results the journal refused (NATS away): the redelivery journals them, not a second run.
    unjournalled: OrderedDict[str, WorkResult] = OrderedDict()

    async def handle(task: TaskDispatched) -> None:
        lock = running.setdefault(task.payload.task_id, asyncio.Lock())
        try:
            async with lock:
                await run_once(task)
        finally:
            if not lock.locked():
                running.pop(task.payload.task_id, None)

    async def run_once(task: TaskDispatched) -> None:
        p = task.payload
        result = unjournalled.get(p.task_id)
        if result is None:
            result = await journal.get(p.task_id)
            if result is not None:
                log.info("task %s (%s) was done before: publishing the journalled result", p.task_id, p.kind)
        if result is None:
            started = time.monotonic()
            kind = KINDS(p.kind)
            try:
                # The task's time box counts from here, when a worker starts it, not from its
                # dispatch: a task that waited its turn in a long queue is not late.
                async with asyncio.timeout(p.timeout_s) as box:
                    with span(f"task {p.kind}", {"quarry.task.kind": p.kind, "quarry.task.id": p.task_id}) as doing:
                        doing.set_attribute("quarry.task.attempt", p.attempt)
                        result = await execute(task)
            except TimeoutError:
                if not box.expired():
                    raise  # the task's own code timed out on something: not this time box
                reason = f"no answer within {p.timeout_s:g}s"
                TASK_SECONDS.labels(kind, "timed_out").observe(time.monotonic() - started)
                log.warning("task %s (%s, attempt %d) failed: %s", p.task_id, p.kind, p.attempt, reason)
                await _publish_failure(task, reason, retryable=True)
                return
            except (TaskError, ValidationError) as exc:
                retryable = isinstance(exc, TaskError) and exc.retryable
                TASK_SECONDS.labels(kind, "failed").observe(time.monotonic() - started)
                log.warning("task %s (%s, attempt %d) failed: %s", p.task_id, p.kind, p.attempt, exc)
                if isinstance(exc, TaskError) and exc.trip is not None:
                    await _publish_trip(task, exc.trip, 0)
                fault: Fault = exc.fault if isinstance(exc, TaskError) else "platform"
                await _publish_failure(task, str(exc), retryable, fault)
                return
            result.seconds = round(time.monotonic() - started, 3)
            TASK_SECONDS.labels(kind, "succeeded").observe(time.monotonic() - started)
            unjournalled[p.task_id] = result
            while len(unjournalled) > UNJOURNALLED_MAX:
                unjournalled.popitem(last=False)
        if p.task_id in unjournalled:
            await journal.put(p.task_id, result)
            unjournalled.pop(p.task_id, None)
            log.info("journalled task %s (%s, attempt %d) in %.3fs", p.task_id, p.kind, p.attempt, result.seconds)
        for i, trip in enumerate(result.trips):
            await _publish_trip(task, trip, i)
        usage_ids: list[str] = []
        for i, use in enumerate(result.usage or [Usage(tool="compute")]):
            seconds = result.seconds if i == 0 else 0.0  # the task's time, counted once
            payload = UsageRecordedPayload(
                task_id=p.task_id, kind=p.kind, seconds=seconds, billed_to=_payer(p), **asdict(use)
            )
            usage = UsageRecorded.caused_by(task, payload).model_copy(
                update={"event_id": derived_id(p.task_id, f"usage:{i}")}
            )
            await bus.publish(_as(usage, agent))
            usage_ids.append(usage.event_id)
        done = TaskSucceeded.caused_by(
            task,
            TaskSucceededPayload(
                task_id=p.task_id,
                kind=p.kind,
                attempt=p.attempt,
                output=result.output,
                usage_event_ids=usage_ids,
                **_shadow_of(p),
            ),
        )
        await bus.publish(_as(done, agent))

    async def _publish_failure(task: TaskDispatched, reason: str, retryable: bool, fault: Fault = "platform") -> None:
        p = task.payload
        payload = TaskFailedPayload(
            task_id=p.task_id,
            kind=p.kind,
            attempt=p.attempt,
            reason=reason[:1000],
            retryable=retryable,
            fault=fault,
            **_shadow_of(p),
        )
        await bus.publish(_as(TaskFailed.caused_by(task, payload), agent))

    async def _publish_trip(task: TaskDispatched, trip: GuardrailTrippedPayload, i: int) -> None:
        if task.payload.shadow:
            return  # a trip is part of the run's record, and a shadow task is not part of the run
        trip = trip.model_copy(update={"task_id": task.payload.task_id})
        await bus.publish(_as(GuardrailTripped.caused_by(task, trip, name=f"guardrail:{i}"), agent))

    async def give_up(task: TaskDispatched, reason: str) -> None:
        await _publish_failure(task, reason, retryable=True)

    return Subscription(
        subjects.task_lane(role), durable or consumers.lane(role).durable, handle, batch=4, on_give_up=give_up
    )


def _shadow_of(p: TaskDispatchedPayload) -> dict[str, Any]:
    """A rollout's shadow task says so in its outcome, so the orchestrator keeps it off the run."""
    return {"shadow": True, "shadow_of": p.shadow_of, "rollout_id": p.rollout_id} if p.shadow else {}


def _payer(p: TaskDispatchedPayload) -> Literal["tenant", "platform"]:
    """A shadow task runs for the platform's sake: the platform pays for it, never the tenant."""
    return "platform" if p.shadow else "tenant"


def _as(event: Any, agent: str) -> Any:
    """The same event with this worker named as the acting agent."""
    actor = Actor(user_id=event.actor.user_id, agent=agent, roles=event.actor.roles)
    return event.model_copy(update={"actor": actor})
