"""The shared sliding-window limiter on in-memory windows: two limiters over one store stand for
two replicas over one bucket."""

from __future__ import annotations

import asyncio

from quarry_security.ratelimit import MemoryWindows, SlidingWindowLimiter, Window


class Counted(MemoryWindows):
    def __init__(self) -> None:
        super().__init__()
        self.reads = self.writes = 0

    async def read(self, key: str) -> Window:
        self.reads += 1
        return await super().read(key)

    async def write(self, key: str, times: tuple[float, ...], revision: int | None) -> int | None:
        self.writes += 1
        return await super().write(key, times, revision)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_replicas_with_stale_copies_still_allow_exactly_the_limit() -> None:
    store, clock = Counted(), Clock()
    a, b = SlidingWindowLimiter(store, clock), SlidingWindowLimiter(store, clock)
    outcomes = [await (a if i % 3 else b).hit("k", 10, 60) for i in range(30)]

    assert sum(o is None for o in outcomes) == 10
    assert await a.used("k", 60) == 10


async def test_an_uncontended_call_is_one_write_and_a_refusal_is_confirmed_by_a_read() -> None:
    store, clock = Counted(), Clock()
    limiter = SlidingWindowLimiter(store, clock)
    assert await limiter.hit("k", 3, 60) is None  # first sight: read, then write
    store.reads = store.writes = 0
    for _ in range(2):
        assert await limiter.hit("k", 3, 60) is None
    assert (store.reads, store.writes) == (0, 2)

    wait = await limiter.hit("k", 3, 60)
    assert wait == 60.0 and store.reads == 1, "a full copy is read again before refusing"


async def test_a_window_cleared_by_another_replica_has_room_here() -> None:
    store, clock = Counted(), Clock()
    a, b = SlidingWindowLimiter(store, clock), SlidingWindowLimiter(store, clock)
    for _ in range(3):
        await a.hit("k", 3, 900)
    assert await a.hit("k", 3, 900) is not None

    await b.clear("k")

    assert await a.hit("k", 3, 900) is None


async def test_the_window_slides_and_retry_after_is_when_a_call_leaves_it() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(MemoryWindows(), clock)
    for i in range(3):
        clock.now = 1000.0 + i
        assert await limiter.hit("k", 3, 60) is None
    clock.now = 1030.0
    assert await limiter.hit("k", 3, 60) == 30.0
    clock.now = 1060.0
    assert await limiter.hit("k", 3, 60) is None


async def test_concurrent_calls_of_one_replica_queue_rather_than_give_up() -> None:
    store = Counted()
    limiter = SlidingWindowLimiter(store)
    outcomes = await asyncio.gather(*(limiter.hit("k", 100, 60) for _ in range(200)))

    assert sum(o is None for o in outcomes) == 100
    assert limiter._turns == {}, "no lock is kept once nobody waits"
