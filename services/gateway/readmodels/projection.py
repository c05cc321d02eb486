"""Bus subscribers that keep the gateway's read models current and wake SSE streams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from contracts import consumers
from contracts.credits import PlanChanged
from contracts.document import DocumentIndexed, DocumentRejected, DocumentUploaded
from contracts.envelope import Event
from contracts.question import is_question_event
from quarry_runtime.bus import Subscription
from quarry_runtime.errors import Unavailable
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.runs import run_log_of
from services.gateway.readmodels.store import GatewayStore


class RunFeed:
    """Wakes every open SSE stream when a run's log grows."""

    def __init__(self) -> None:
        # One future per waiting stream, made in the waiter's own loop: nothing is bound to a
        # loop at construction, so the feed can be built before the server's loop exists.
        self._waiters: set[asyncio.Future[None]] = set()

    async def notify(self) -> None:
        for waiter in list(self._waiters):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, timeout_s: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=timeout_s)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


class Projected:
    """The ids of the events this process applied to the read models itself, on the request path
    that published them (`api.commands.publish`): their copy from the bus would change nothing,
    so the consumer acknowledges it before parsing it (`Subscription.applied_here`). Bounded: an id
    that fell out is applied again, which is a no-op."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._ids: dict[str, None] = {}

    def add(self, event_id: str) -> None:
        if len(self._ids) >= self._size:
            self._ids.pop(next(iter(self._ids)))
        self._ids[event_id] = None

    def take(self, event_id: str) -> bool:
        """Whether the event was applied here; forgotten once asked (a redelivery applies it again, a no-op)."""
        if event_id not in self._ids:
            return False
        del self._ids[event_id]
        return True


# The gateway's durable consumers, one per domain; all of them feed `project`.
CONSUMERS = consumers.CONSUMERS["gateway"]
SUBJECT_PREFIXES = tuple(c.subject.removesuffix(">") for c in CONSUMERS)


def project(store: GatewayStore, monitors: MonitorStore, ev: Event) -> bool:
    """Apply one event to the read model that keeps it; True when a run's log (or a question) grew.

    The live consumers and `quarry replay` both go through here, so a rebuild is the same code.
    """
    if isinstance(ev, PlanChanged):
        store.audit.record_plan_change(ev)
    if ev.type.startswith("document."):
        store.datasets.apply(ev)  # datasets, and their documents' progress; the documents table as before
    if isinstance(ev, DocumentUploaded):
        store.record_document_uploaded(ev)
    elif isinstance(ev, DocumentIndexed):
        store.set_document_status(ev.payload.document_id, ev.tenant_id, "indexed", ev.payload.chunks, None)
    elif isinstance(ev, DocumentRejected):
        store.set_document_status(ev.payload.document_id, ev.tenant_id, "rejected", 0, ev.payload.reason)
    elif ev.type.startswith("monitor."):
        monitors.apply(ev)
    elif ev.type.startswith("question."):
        return store.questions.apply(ev)
    elif for_run_log(ev):
        return store.record_run_event(ev)
    return False


def for_run_log(ev: Event) -> bool:
    """Whether `project` gives the event to a run's log (a rebuild may batch exactly these)."""
    if ev.type.startswith(("document.", "monitor.", "question.")):
        return False
    if run_log_of(ev) is None:
        return False
    if not _may_be_marked(type(ev.payload)):
        return True
    # A question's tool, task and credits events belong to no run's log, nor does a rollout's
    # shadow task (its dispatch, outcome and platform-billed usage): the tenant never sees it.
    return not is_question_event(ev) and not is_shadow(ev)


# The payload attributes `is_question_event` and `is_shadow` read. Each miss on a pydantic model
# raises and catches an AttributeError inside pydantic (~10 µs): asked of a run's request, whose
# payload has none of them, the five misses cost more than the rest of its read-model write.
MARKS = frozenset({"tool", "kind", "purpose", "question_id", "shadow", "billed_to"})


_MARKED: dict[type, bool] = {}


def _may_be_marked(payload_type: type) -> bool:
    """Whether a payload of this type could mark its event as a question's or a shadow's: False
    only for a model that keeps no extra fields and has none of `MARKS` as a field or attribute."""
    known = _MARKED.get(payload_type)
    if known is None:
        known = _MARKED[payload_type] = _declares_marks(payload_type)
    return known


def _declares_marks(payload_type: type) -> bool:
    fields = getattr(payload_type, "model_fields", None)
    config = getattr(payload_type, "model_config", None)
    if not isinstance(fields, dict) or not isinstance(config, dict) or config.get("extra") == "allow":
        return True
    return any(name in fields or hasattr(payload_type, name) for name in MARKS)


def is_shadow(ev: Event) -> bool:
    """A rollout's shadow task's event: its dispatch or outcome, or usage the platform pays for."""
    return bool(getattr(ev.payload, "shadow", False)) or getattr(ev.payload, "billed_to", "tenant") == "platform"


class StoreWatch(Protocol):
    """Told whether the live path reached the store (the catch-up checks after an outage)."""

    def store_failed(self) -> None: ...

    def store_ok(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveViews:
    """What the live consumers keep current, and whom they tell: the open streams (`feed`), the
    catch-up (`watch`), and which events the request path applied already (`projected`)."""

    store: GatewayStore
    monitors: MonitorStore
    feed: RunFeed
    watch: StoreWatch | None = None
    projected: Projected | None = None


def subscriptions(views: LiveViews) -> list[Subscription]:
    applied_here = views.projected.take if views.projected is not None else None
    return [Subscription(c.subject, c.durable, _applier(views), batch=8, applied_here=applied_here) for c in CONSUMERS]


def _applier(views: LiveViews) -> Callable[[Event], Awaitable[None]]:
    """One consumer's handler. The Bus handles a fetched batch's messages concurrently; applied
    in turn (the lock is taken in delivery order), the run's log keeps the stream's order, which
    the inspector and the streams read it in."""
    in_order = asyncio.Lock()

    async def on_event(ev: Event) -> None:
        # (An event this process applied itself never gets here: the Bus acks it unparsed, `applied_here`.)
        # Off the event loop, whatever the database: a PostgreSQL round trip (or the wait for a
        # lost server), or SQLite's lock held by another thread, must not hold up the requests.
        try:
            async with in_order:
                grew = await asyncio.to_thread(project, views.store, views.monitors, ev)
        except Unavailable:
            if views.watch is not None:
                views.watch.store_failed()
            raise  # the bus redelivers it with backoff, for as long as the outage lasts
        if views.watch is not None:
            views.watch.store_ok()
        if grew:
            await views.feed.notify()

    return on_event
