"""Group commit: the aggregates changed by many bus events, saved in one transaction.

A consumer that commits once per bus event pays a transaction (an fsync on SQLite, a WAL
flush on PostgreSQL) per event. Here each handled event is a *unit*: its use case runs to
the end synchronously and *stages* the aggregates it changed; a writer task commits whatever
has been staged since the last commit in one transaction, and only then resolves the units,
so every handler still acknowledges its message after its changes are durable. Under load a
fetched batch of messages (and the other consumers' messages) ends up in one commit; alone,
a unit is committed on the next turn of the event loop.

An aggregate with staged, uncommitted events is the current one: a later unit that loads it
gets the staged object and continues from it (its events are committed with or after the
earlier ones, never before). A unit that only reads a staged aggregate (and finds, say, that
its message was applied already) waits for that aggregate's commit too, and retries if it
fails: what it decided on is not in the store until then, so neither may its ack be.
A use case that raises after changing a staged aggregate taints it (a change leaves another
object as its last pending event: one added, or one put in the last one's place by an aggregate
that folds changes into it, as billing's metering does): the aggregate is dropped and every
unit that staged it is told to retry (its message is redelivered and applied again to the
state in the store). A commit that fails is retried aggregate by aggregate, so a version
conflict with another replica costs only the units that touched that aggregate. A use case or a commit that fails because the database is away raises
`Unavailable` in its units: the bus waits the outage out instead of counting it against the
message, and the redelivered message is applied again to what the store holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, KeysView, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol

from quarry_runtime.errors import NotReady, Unavailable
from quarry_runtime.recorders import is_outage

log = logging.getLogger(__name__)

# How often the writer lets other ready handlers run before it commits what they staged.
GATHER_TURNS = 2


class CommitFailed(NotReady):
    """The unit's changes were not committed: redeliver its message and apply it again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, delay_s=0.05)


# What `Unit.touched` holds for an aggregate the unit staged.
STAGED = object()


@dataclass(eq=False, slots=True)
class Unit:
    """One handled bus event: what it staged, and the future its handler waits on."""

    future: asyncio.Future[None] | None = None
    # The aggregates whose commit this unit's outcome rests on: `STAGED` for those it staged;
    # for those it only read staged, their last pending event when it did (a change triggers a
    # new event or, as billing's metering folds usage into the last one, puts a new event
    # object in its place: either way the last one is another object after a change).
    touched: dict[Any, Any] = field(default_factory=dict)

    @property
    def depends_on(self) -> KeysView[Any]:
        """The aggregates whose commit this unit's outcome rests on: those it staged or read staged."""
        return self.touched.keys()

    async def committed(self) -> None:
        """Wait until everything this unit staged is in the store (at once if it staged nothing)."""
        if self.future is not None:
            await self.future


AfterCommit = Callable[[Sequence[Any]], None]


class GroupCommit:
    """Stages aggregates per unit and commits them in groups, for one eventsourcing application."""

    def __init__(
        self,
        app: Application[Any],
        after_commit: AfterCommit = lambda aggregates: None,
        on_drop: Callable[[Any], None] = lambda aggregate_id: None,
    ) -> None:
        self.app = app
        self.after_commit = after_commit
        # Told of every aggregate whose staged events were thrown away, so a cache of the
        # application's own (an aggregate cache) forgets the object too.
        self.on_drop = on_drop
        self._staged: dict[Any, Any] = {}  # aggregate id -> aggregate with uncommitted events
        self._units: dict[Any, dict[Unit, None]] = {}  # aggregate id -> units that staged or read it
        self._current: Unit | None = None
        self._ready = asyncio.Event()
        self.commits = 0
        self.events = 0

    @property
    def active(self) -> bool:
        """True while a unit's use case runs: saves are staged, not committed."""
        return self._current is not None

    def unit(self) -> _UnitScope:
        """Run one use case as a unit (`with group.unit() as unit:`, synchronously, with no await inside)."""
        if self._current is not None:
            raise RuntimeError("units do not nest")
        unit = Unit()
        self._current = unit
        return _UnitScope(self, unit)

    def _failed(self, unit: Unit, exc: BaseException) -> None:
        self._leave(unit)
        self._taint(unit)
        if is_outage(exc):
            raise Unavailable(f"the event store is unreachable: {type(exc).__name__}: {exc}") from exc

    def get(self, aggregate_id: Any) -> Any | None:
        """The staged aggregate with this id, if a unit changed it and it is not committed yet."""
        aggregate = self._staged.get(aggregate_id)
        unit = self._current
        if aggregate is not None and unit is not None and aggregate_id not in unit.touched:
            unit.touched[aggregate_id] = aggregate.pending_events[-1]
            # Whatever the unit decides from this state holds only once it is committed: it
            # waits for that commit (and retries if it fails) even if it stages nothing itself.
            self._join(unit, aggregate_id)
        return aggregate

    async def settled(self, aggregate_id: Any, rounds: int = 10, timeout_s: float = 5.0) -> None:
        """Wait until the aggregate has nothing staged (its events committed, or dropped), so a
        query that reads it next, with no await in between, sees only what is in the store.

        The last check is made as this returns, in the caller's own task (wrapping this in
        `asyncio.wait_for` would run it as another task, and handlers could stage again before
        the caller resumed). Under a steady stream of units on one aggregate it gives up after
        `rounds` commits or `timeout_s`, and the caller reads the aggregate as staged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        for _ in range(rounds):
            if aggregate_id not in self._staged:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            waiting = [u.future for u in self._units.get(aggregate_id, ()) if u.future is not None]
            if waiting:
                await asyncio.wait(waiting, timeout=remaining)
            else:
                await asyncio.sleep(0)

    def stage(self, aggregate: Any) -> None:
        """Called by the application instead of saving, while a unit is active."""
        unit = self._current
        if unit is None:
            raise RuntimeError("stage() outside a unit")
        if not aggregate.pending_events:
            return
        aggregate_id = aggregate.id
        self._staged[aggregate_id] = aggregate
        if aggregate_id not in unit.touched:
            self._join(unit, aggregate_id)
        # Tainted on failure as staged: what it was when read no longer matters.
        unit.touched[aggregate_id] = STAGED
        self._ready.set()

    def _join(self, unit: Unit, aggregate_id: Any) -> None:
        """Resolve `unit` only once the aggregate's staged events are committed (or dropped)."""
        units = self._units.get(aggregate_id)
        if units is None:
            self._units[aggregate_id] = {unit: None}
        else:
            units[unit] = None
        if unit.future is None:
            unit.future = asyncio.get_running_loop().create_future()

    def _taint(self, unit: Unit) -> None:
        """The unit failed mid-way: drop every staged aggregate it may have changed."""
        changed = [
            aggregate_id
            for aggregate_id, last in unit.touched.items()
            if last is STAGED
            or (aggregate_id in self._staged and self._staged[aggregate_id].pending_events[-1] is not last)
        ]
        for aggregate_id in changed:
            self._drop(aggregate_id, "a use case failed after changing it")

    def _leave(self, unit: Unit) -> None:
        """A failed unit's message is retried by the bus: nobody waits for its commit any more."""
        for aggregate_id in unit.depends_on:
            units = self._units.get(aggregate_id)
            if units is not None:
                units.pop(unit, None)
        if unit.future is not None and not unit.future.done():
            unit.future.cancel()

    def _drop(self, aggregate_id: Any, reason: str) -> None:
        self._staged.pop(aggregate_id, None)
        self.on_drop(aggregate_id)
        for unit in self._units.pop(aggregate_id, {}):
            self._resolve(unit, CommitFailed(f"not committed: {reason}"))

    def _resolve(self, unit: Unit, error: BaseException | None = None) -> None:
        if unit.future is None or unit.future.done():
            return
        if error is None:
            unit.future.set_result(None)
        else:
            unit.future.set_exception(error)

    # -- the writer --------------------------------------------------------------------------

    async def run(self) -> None:
        """Commit staged aggregates in groups, for as long as the service runs."""
        while True:
            await self._ready.wait()
            for _ in range(GATHER_TURNS):
                await asyncio.sleep(0)
            self._ready.clear()
            self.commit()

    def commit(self) -> None:
        """Commit everything staged now in one transaction; then resolve the units it covered."""
        if not self._staged:
            return
        staged, self._staged = self._staged, {}
        units, self._units = self._units, {}
        try:
            self._commit(staged, units)
        except Exception as exc:
            # Whatever went wrong, no unit may be left waiting (its message would be kept in
            # progress by the bus's heartbeat forever): each is retried from the store.
            log.exception("group commit of %d aggregates failed unexpectedly", len(staged))
            for aggregate_id in staged:
                self.on_drop(aggregate_id)
            for unit_list in units.values():
                for unit in unit_list:
                    self._resolve(unit, CommitFailed(f"commit failed: {type(exc).__name__}: {exc}"))

    def _commit(self, staged: dict[Any, Any], units: dict[Any, dict[Unit, None]]) -> None:
        collected: dict[Any, list[DomainEventProtocol[Any]]] = {
            aggregate_id: list(aggregate.collect_events()) for aggregate_id, aggregate in staged.items()
        }
        failed: dict[Any, BaseException] = {}
        try:
            self._record(staged, collected)
        except Exception as exc:  # noqa: BLE001 - retried one aggregate at a time below
            if is_outage(exc):
                # One by one would wait out the connect timeout once per aggregate.
                failed = dict.fromkeys(staged, exc)
            else:
                log.info("group commit of %d aggregates failed (%s); committing them one by one", len(staged), exc)
            for aggregate_id in () if failed else staged:
                try:
                    self._record({aggregate_id: staged[aggregate_id]}, {aggregate_id: collected[aggregate_id]})
                except Exception as one:  # noqa: BLE001 - the units of this aggregate retry
                    failed[aggregate_id] = one
        committed = [aggregate for aggregate_id, aggregate in staged.items() if aggregate_id not in failed]
        for aggregate_id, error in failed.items():
            self.on_drop(aggregate_id)
            reason = f"commit failed: {type(error).__name__}: {error}"
            retry = Unavailable if is_outage(error) else CommitFailed
            for unit in units.get(aggregate_id, ()):
                self._resolve(unit, retry(reason))
        if committed:
            try:
                self.after_commit(committed)
            except Exception:
                log.exception("after-commit hook failed")
        for unit_list in units.values():
            for unit in unit_list:
                if not failed or unit.depends_on.isdisjoint(failed):
                    self._resolve(unit)

    def _record(self, aggregates: dict[Any, Any], events: dict[Any, list[DomainEventProtocol[Any]]]) -> None:
        processing_event: ProcessingEvent[Any] = ProcessingEvent()
        for aggregate_id, aggregate in aggregates.items():
            processing_event.events.extend(events[aggregate_id])
            processing_event.aggregates[aggregate_id] = aggregate
        # The parts of `Application.save` after collecting, without its per-object protocol
        # checks: record in one transaction, then the interval snapshots and notifications.
        recordings = self.app._record(processing_event)
        self.app._take_snapshots(processing_event)
        self.app._notify(recordings)
        self.commits += 1
        self.events += len(processing_event.events)


class _UnitScope:
    """The `with` block of one unit (a class, not a generator: entered once per handled event)."""

    __slots__ = ("_group", "_unit")

    def __init__(self, group: GroupCommit, unit: Unit) -> None:
        self._group = group
        self._unit = unit

    def __enter__(self) -> Unit:
        return self._unit

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self._group._current = None
        if exc is not None:
            self._group._failed(self._unit, exc)
