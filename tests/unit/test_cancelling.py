"""A task that swallows a cancel (as Python 3.11's wait_for does when its result arrives with the
cancel) is still ended by `cancel_and_wait`, where one cancel and a wait would hang."""

from __future__ import annotations

import asyncio

from quarry_runtime.cancelling import cancel_and_wait


async def test_a_task_that_swallows_cancels_is_ended() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed == 3:
                    raise
                swallowed += 1
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait([task])
    assert task.cancelled() and swallowed == 3


async def test_one_cancel_then_waiting_would_hang_on_the_same_task() -> None:
    async def swallows_once() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(10)

    task = asyncio.create_task(swallows_once())
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done  # what a single cancel leaves behind
    await cancel_and_wait([task])
    assert task.cancelled()


async def test_failures_and_finished_tasks_are_collected_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("its own fault")

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, finished])
    assert failed.done() and finished.done()
