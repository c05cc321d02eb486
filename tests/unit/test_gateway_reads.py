"""A read of a free SQLite store is made at once; otherwise the reads of requests under way at once
are made in one trip off the event loop (SQLite), each caller getting its own answer or error; on
PostgreSQL each read keeps a trip of its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels import reads as module
from services.gateway.readmodels.reads import GroupedReads


class Store:
    """Records the thread each read ran in; `gate` holds the first read until released."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.gate = threading.Event()
        self.started = threading.Event()

    def read(self, n: int) -> int:
        self.threads.append(threading.get_ident())
        if n == 0:
            self.started.set()
            self.gate.wait(5)
        if n < 0:
            raise LookupError(f"no {n}")
        return n * 10


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many reads each trip off the event loop made."""
    made: list[int] = []
    each = module._each

    def counted(group: list[module.Call]) -> list[module.Outcome]:
        made.append(len(group))
        return each(group)

    monkeypatch.setattr(module, "_each", counted)
    return made


async def test_reads_made_while_one_runs_go_together_in_the_next_trip(trips: list[int]) -> None:
    reads, store = GroupedReads(grouped=True), Store()
    first = asyncio.create_task(reads(store.read, 0))
    await asyncio.to_thread(store.started.wait, 5)
    waiting = [asyncio.create_task(reads(store.read, n)) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await first == 0
    assert await asyncio.gather(*waiting) == [10, 20, 30]
    assert trips == [1, 3], "the three waiting reads ran in one trip"
    assert threading.get_ident() not in store.threads, "never on the event loop"


async def test_each_caller_gets_its_own_answer_or_error() -> None:
    reads, store = GroupedReads(grouped=True), Store()
    store.gate.set()
    got = await asyncio.gather(*(reads(store.read, n) for n in (1, -1, 2)), return_exceptions=True)
    assert got[0] == 10 and got[2] == 20
    assert isinstance(got[1], LookupError) and str(got[1]) == "no -1"


async def test_a_caller_that_goes_away_leaves_the_others_their_answers() -> None:
    reads, store = GroupedReads(grouped=True), Store()
    first = asyncio.create_task(reads(store.read, 0))
    await asyncio.to_thread(store.started.wait, 5)
    gone, staying = asyncio.create_task(reads(store.read, 1)), asyncio.create_task(reads(store.read, 2))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    assert await first == 0 and await staying == 20
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await reads(store.read, 3) == 30, "the next read is made as usual"


async def test_ungrouped_reads_each_take_a_trip_of_their_own(trips: list[int]) -> None:
    reads, store = GroupedReads(grouped=False), Store()
    first = asyncio.create_task(reads(store.read, 0))
    await asyncio.to_thread(store.started.wait, 5)
    # While the first read is held, another one is made beside it, not after it.
    assert await reads(store.read, 4) == 40
    store.gate.set()
    assert await first == 0
    assert trips == []


async def test_a_free_sqlite_store_is_read_at_once_on_the_loop(tmp_path: Path, trips: list[int]) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    reads, store = GroupedReads(grouped=True, held_if_free=db.held_if_free), Store()
    assert await reads(store.read, 1) == 10
    with pytest.raises(LookupError, match="no -1"):
        await reads(store.read, -1)
    assert store.threads == [threading.get_ident()] * 2, "made on the event loop's thread"
    assert trips == []


async def test_a_store_another_thread_holds_is_read_in_a_trip_once_it_is_free(tmp_path: Path, trips: list[int]) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    reads = GroupedReads(grouped=True, held_if_free=db.held_if_free)
    holding, release = threading.Event(), threading.Event()
    threads: list[int] = []

    def read(n: int) -> int:
        threads.append(threading.get_ident())
        row = db.one("SELECT ?", (n * 10,))
        assert row is not None
        return int(row[0])

    def hold() -> None:
        with db.transaction():
            holding.set()
            release.wait(5)

    holder = asyncio.create_task(asyncio.to_thread(hold))
    await asyncio.to_thread(holding.wait, 5)
    reading = asyncio.create_task(reads(read, 2))
    await asyncio.sleep(0.05)
    assert not reading.done(), "the read waits for the lock in its trip, not on the loop"
    release.set()
    await holder
    assert await reading == 20
    assert trips == [1] and threading.get_ident() not in threads


async def test_postgresql_never_holds_for_a_read_at_once(tmp_path: Path) -> None:
    db = SqlDatabase(RuntimeSettings(data_dir=tmp_path), "gateway")
    db.is_postgres = True  # only the flag is read before anything is held
    with db.held_if_free() as held:
        assert held is False
