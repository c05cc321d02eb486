"""Bus subscribers that keep the gateway's read models current and wake SSE streams."""

from __future__ import annotations

import asyncio

from contracts import consumers
from contracts.credits import PlanChanged
from contracts.document import DocumentIndexed, DocumentRejected, DocumentUploaded
from contracts.envelope import Event
from contracts.question import is_question_event
from quarry_runtime.bus import Subscription
from services.gateway.monitors import MonitorStore
from services.gateway.store import GatewayStore, run_log_of


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
    # A question's tool, task and credits events belong to no run's log.
    return run_log_of(ev) is not None and not is_question_event(ev)


def subscriptions(store: GatewayStore, feed: RunFeed, monitors: MonitorStore) -> list[Subscription]:
    async def on_event(ev: Event) -> None:
        if project(store, monitors, ev):
            await feed.notify()

    async def off_loop(ev: Event) -> None:
        # A PostgreSQL round trip (or the wait for a lost server) is taken off the event loop,
        # which keeps serving requests meanwhile; a local SQLite write costs less than the hop.
        if await asyncio.to_thread(project, store, monitors, ev):
            await feed.notify()

    handler = off_loop if store.db.is_postgres else on_event

    return [Subscription(c.subject, c.durable, handler, batch=8) for c in CONSUMERS]
