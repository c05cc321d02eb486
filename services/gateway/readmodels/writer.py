"""The read-model write of the events the routes publish, grouped: one transaction for many requests.

A route that publishes an event applies it to the read models itself (`api.commands.publish`), so
its caller's next read sees it. Done one request at a time, each admitted run cost a thread hop and
a transaction of its own. Here the run events of the requests under way at once go to the store in
one hop and one transaction (`RunLog.record_run_events`, which writes the rows `record_run_event`
writes): a request waits for the write that holds its event, so its answer still comes after the
read model has it. Alone, a request's event is written at once, as before. Events outside a run's
log (monitors, questions, documents) are applied one by one, as before.

On SQLite a group is written on the event loop when nothing else holds the store: the thread trip
(waking a worker, then the GIL passed back and forth with the loop at every SQLite call) cost
more than the write, one transaction of a few hundred microseconds that waits for nothing: in WAL
a commit does not wait for readers, with synchronous=NORMAL it does not fsync (the automatic
checkpoint after every ~1000 pages does, as it did in the worker, where it held the store's lock
as long), and the write lock is asked without waiting for it. When another thread holds the
store, or another process (devtools, a replay) the file's write lock, the group takes the trip,
where it waits as before. On PostgreSQL every write takes the trip (a round trip, a lost server).
"""

from __future__ import annotations

import asyncio

from contracts.envelope import Event
from quarry_runtime.sqlite_faults import Locked
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import Projected, for_run_log, project
from services.gateway.readmodels.store import GatewayStore

Waiting = tuple[Event, asyncio.Future[None]]


class ProjectionWriter:
    def __init__(self, store: GatewayStore, monitors: MonitorStore, projected: Projected) -> None:
        self.store = store
        self.monitors = monitors
        self.projected = projected
        self._waiting: list[Waiting] = []
        self._writing: asyncio.Task[None] | None = None

    async def apply(self, event: Event) -> None:
        """Apply `event` to its read model; returns once it is stored (raises what the store raised)."""
        if not for_run_log(event):
            await asyncio.to_thread(project, self.store, self.monitors, event)
            self.projected.add(event.event_id)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        # A caller that goes away does not stop the write its event is in.
        await asyncio.shield(done)

    async def _write_all(self) -> None:
        """Write what is waiting, group by group, until nothing is (each group gathered during the last write)."""
        while self._waiting:
            group, self._waiting = self._waiting, []
            events = [event for event, _ in group]
            try:
                if not self._written_at_once(events):
                    await asyncio.to_thread(self.store.record_run_events, events)
            except BaseException as exc:
                # Every request of the group gets the store's error, as each would have alone (an
                # outage is the one the store raises; the events are the gateway's own).
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for event, done in group:
                self.projected.add(event.event_id)
                if not done.done():
                    done.set_result(None)

    def _written_at_once(self, events: list[Event]) -> bool:
        """The group written on the event loop if neither another thread holds the store nor another
        process the file's write lock; False when it was not: the trip writes the group then (the
        events of a chunk committed before the lock was found taken are skipped there as logged)."""
        with self.store.db.held_without_waiting() as held:
            if not held:
                return False
            try:
                self.store.record_run_events(events)
            except Locked:
                return False
            return True
