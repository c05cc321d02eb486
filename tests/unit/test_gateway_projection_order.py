"""The gateway's live consumers apply a fetched batch in delivery order: the Bus hands the batch's
messages to the handler concurrently, and the run's log (which the inspector and the streams read
in `seq` order) must keep the stream's order however long each write takes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import Actor, Event
from contracts.task import TaskDispatched, TaskDispatchedPayload
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels import projection
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import LiveViews, RunFeed, subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings


async def test_a_batch_is_logged_in_the_order_it_was_delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    store = GatewayStore(db)
    ids: dict[str, Any] = {"tenant_id": "t", "run_id": "run-1", "actor": Actor(user_id="u")}
    batch = [
        TaskDispatched.create(
            TaskDispatchedPayload(task_id=f"task-{i}", kind="search", role="retriever", input={}), **ids
        )
        for i in range(6)
    ]
    # The first of the batch writes slowest: applied concurrently, the later ones would be logged first.
    delays = {ev.event_id: 0.05 * (len(batch) - i) for i, ev in enumerate(batch)}
    real = projection.project

    def slow(store: GatewayStore, monitors: MonitorStore, ev: Event) -> bool:
        time.sleep(delays[ev.event_id])
        return real(store, monitors, ev)

    monkeypatch.setattr(projection, "project", slow)
    (tasks,) = [s for s in subscriptions(LiveViews(store, MonitorStore(db), RunFeed())) if s.subject == "task.>"]
    try:
        # As the Bus handles a fetched batch: the first in this task, the others in a task each.
        async def handled(ev: Event) -> None:
            await tasks.handler(ev)

        async with asyncio.TaskGroup() as group:
            for ev in batch[1:]:
                group.create_task(handled(ev))
            await tasks.handler(batch[0])
        logged = [e["event_id"] for e in store.run_events_of("t", "run-1")]
    finally:
        db.close()
    assert logged == [ev.event_id for ev in batch]
