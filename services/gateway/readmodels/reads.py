"""The store reads every request makes (its caller's token, a run admission's tenant settings):
on SQLite made at once when the store is free, else those of the requests under way at once made
in one trip off the event loop.

Each `asyncio.to_thread` wakes a worker thread that then contends for the GIL with the loop: a run
admission made two such trips besides its write, and the GIL passed back and forth between the
loop and the worker at every SQLite call of the trip. A read of SQLite is one indexed statement
(tens of microseconds) that never waits for a writer (WAL); what it may wait for is the store's
own lock, held by another thread's call or transaction. So when that lock is free the read is
made on the loop, holding it; when it is not, the read joins the reads of concurrent requests,
made one after the other in a single trip (the store serialises its calls behind that lock
anyway, so this takes no parallelism away). On PostgreSQL the reads stay a trip each: there they
run in parallel, and one waiting on a lock or the network must hold up its own request only.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
Call = Callable[[], Any]
Outcome = tuple[bool, Any]  # (returned, the value or what it raised)
# Holds the store for calls made at once if no other thread holds it (`SqlDatabase.held_if_free`).
HeldIfFree = Callable[[], AbstractContextManager[bool]]


class GroupedReads:
    def __init__(self, grouped: bool, held_if_free: HeldIfFree | None = None) -> None:
        self.grouped = grouped
        self._held_if_free = held_if_free
        self._waiting: list[tuple[Call, asyncio.Future[Any]]] = []
        self._reading: asyncio.Task[None] | None = None

    async def __call__(self, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`read(*args, **kwargs)`, at once if the store is free, else off the event loop; returns
        or raises what it did."""
        if self._held_if_free is not None:
            with self._held_if_free() as held:
                if held:
                    return read(*args, **kwargs)
        if not self.grouped:
            return await asyncio.to_thread(read, *args, **kwargs)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._waiting.append((functools.partial(read, *args, **kwargs), done))
        # A task of another loop (a test's client that made one per request) is no longer run.
        if self._reading is None or self._reading.done() or self._reading.get_loop() is not loop:
            self._reading = asyncio.create_task(self._read_all())
        return await done

    async def _read_all(self) -> None:
        """Make what is waiting, group by group, until nothing is (each group gathered during the last)."""
        while self._waiting:
            group, self._waiting = self._waiting, []
            outcomes = await asyncio.to_thread(_each, [read for read, _ in group])
            for (_, done), (returned, value) in zip(group, outcomes, strict=True):
                if done.done():  # its caller went away
                    continue
                if returned:
                    done.set_result(value)
                else:
                    done.set_exception(value)


def _each(reads: list[Call]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for read in reads:
        try:
            outcomes.append((True, read()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, as a call of its own would raise it
            outcomes.append((False, exc))
    return outcomes
