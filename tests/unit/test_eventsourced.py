"""The event-sourced kernel on a real SQLite event store: what a use-case handler acks, rejects and forgets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid5

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from quarry_runtime.errors import NotReady, QuarryError, Rejected
from quarry_runtime.eventsourced import EventSourcedApplication, use_case_handler

NAMESPACE = UUID("0d6c8f6e-6a55-4a8e-9c55-2f2b1e3c4d5a")


class CounterError(QuarryError):
    """The counters' own refusal."""


class Counter(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return uuid5(NAMESPACE, name)

    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    @event("Added")
    def add(self, amount: int) -> None:
        self.value += amount


class Counters(EventSourcedApplication):
    # Like billing: commands change the cached object itself.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "10", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}

    def counter(self, name: str) -> Counter:
        try:
            found: Counter = self._load(Counter.create_id(name))
        except AggregateNotFoundError:
            return Counter(name=name)
        return found

    def add(self, request: dict[str, Any]) -> None:
        counter = self.counter(request["name"])
        counter.add(amount=request["amount"])
        if request.get("refuse"):
            raise CounterError("counters refuse this one")
        if request.get("crash"):
            raise RuntimeError("failed after changing the counter")
        self._save(counter)

    def wait(self, request: dict[str, Any]) -> None:
        self.counter(request["name"])
        raise NotReady("what this depends on has not arrived")


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[Counters]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "counters.db")}
    app = Counters(env=env)
    yield app
    app.close()


def _stored_value(app: Counters, name: str) -> int:
    app.forget_aggregate(Counter.create_id(name))
    return app.counter(name).value


async def test_handled_events_are_committed_together_and_wake_the_relay(counters: Counters) -> None:
    woken: list[int] = []
    group = counters.group_commit(on_saved=lambda: woken.append(group.commits))
    writer = asyncio.create_task(group.run())
    handle = use_case_handler(counters, counters.add, rejected=(CounterError,))
    try:
        await asyncio.gather(*(handle({"name": "a", "amount": n}) for n in (1, 2, 3)))
    finally:
        writer.cancel()
    assert group.commits == 1
    assert woken == [1]
    assert _stored_value(counters, "a") == 6


async def test_a_refusal_is_rejected_and_the_changed_cached_aggregate_forgotten(counters: Counters) -> None:
    handle = use_case_handler(counters, counters.add, rejected=(CounterError,))
    await handle({"name": "a", "amount": 1})  # no group commit: saved at once
    with pytest.raises(Rejected, match="counters refuse this one"):
        await handle({"name": "a", "amount": 100, "refuse": True})
    assert counters.counter("a").value == 1  # read again from the store, not the changed object


async def test_an_unexpected_failure_is_raised_as_it_is_and_forgets_too(counters: Counters) -> None:
    handle = use_case_handler(counters, counters.add, rejected=(CounterError,))
    await handle({"name": "a", "amount": 1})
    with pytest.raises(RuntimeError, match="failed after changing"):
        await handle({"name": "a", "amount": 100, "crash": True})
    assert counters.counter("a").value == 1


async def test_not_ready_passes_through_for_redelivery(counters: Counters) -> None:
    handle = use_case_handler(counters, counters.wait, rejected=(CounterError,))
    with pytest.raises(NotReady):
        await handle({"name": "a"})


async def test_a_command_outside_the_bus_continues_from_staged_state(counters: Counters) -> None:
    group = counters.group_commit(on_saved=lambda: None)
    writer = asyncio.create_task(group.run())
    handle = use_case_handler(counters, counters.add, rejected=(CounterError,))
    try:
        handled = asyncio.ensure_future(handle({"name": "a", "amount": 1}))
        await asyncio.sleep(0)  # the handler has staged, not committed
        await counters.run_command(lambda: counters.add({"name": "a", "amount": 10}))
        await handled
    finally:
        writer.cancel()
    assert _stored_value(counters, "a") == 11
