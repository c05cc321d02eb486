"""Bus subscribers that keep the gateway's read models current and wake SSE streams."""

from __future__ import annotations

import asyncio
from typing import Any

from contracts.document import DocumentIndexed, DocumentRejected
from contracts.envelope import Event
from quarry_runtime.bus import Subscription
from services.gateway.monitors import MonitorStore
from services.gateway.store import GatewayStore


class RunFeed:
    """Wakes every open SSE stream when a run's log grows."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, timeout_s: float) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=timeout_s)
            except TimeoutError:
                pass


def subscriptions(store: GatewayStore, feed: RunFeed, monitors: MonitorStore) -> list[Subscription]:
    async def on_run_event(ev: Event) -> None:
        if store.record_run_event(ev):
            await feed.notify()

    async def on_document_event(ev: Any) -> None:
        if isinstance(ev, DocumentIndexed):
            store.set_document_status(ev.payload.document_id, ev.tenant_id, "indexed", ev.payload.chunks, None)
        elif isinstance(ev, DocumentRejected):
            store.set_document_status(ev.payload.document_id, ev.tenant_id, "rejected", 0, ev.payload.reason)

    runs = [
        ("run.>", "runs"),
        ("credits.>", "credits"),
        ("tool.>", "tools"),
        ("task.>", "tasks"),
        ("report.>", "reports"),
        ("approval.>", "approvals"),
    ]
    subs = [Subscription(subject, f"gateway-{name}", on_run_event, batch=8) for subject, name in runs]
    subs.append(Subscription("document.>", "gateway-documents", on_document_event))

    async def on_monitor_event(ev: Event) -> None:
        monitors.apply(ev)

    subs.append(Subscription("monitor.>", "gateway-monitors", on_monitor_event))
    return subs
