"""The store reads every request makes (its caller's token, a run admission's tenant settings),
those of the requests under way at once made in one trip off the event loop.

Each `asyncio.to_thread` wakes a worker thread that then contends for the GIL with the loop; a run
admission made two such trips besides its write. On SQLite the store serialises its calls behind
one lock anyway, so running the reads of concurrent requests one after the other in a single
trip takes no parallelism away. On PostgreSQL the reads stay a trip each: there they run in
parallel, and one waiting on a lock must hold up its own request only. Alone, a request's read
is made at once, as before.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
Call = Callable[[], Any]
Outcome = tuple[bool, Any]  # (returned, the value or what it raised)


class GroupedReads:
    def __init__(self, grouped: bool) -> None:
        self.grouped = grouped
        self._waiting: list[tuple[Call, asyncio.Future[Any]]] = []
        self._reading: asyncio.Task[None] | None = None

    async def __call__(self, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`read(*args, **kwargs)` off the event loop; returns or raises what it did."""
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
