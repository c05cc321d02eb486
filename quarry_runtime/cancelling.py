"""Cancelling tasks that may swallow a cancel.

On Python 3.11 `asyncio.wait_for` returns its inner result when a cancel arrives just as that
result does (3.12 fixed it), and nats-py waits for every message of a fetch in one: a consumer
cancelled while a message reaches it takes the message and goes on fetching as if nothing had
happened. A shutdown that cancels once and then waits hangs for ever, so the cancel is repeated
until the tasks have ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

CANCEL_AGAIN_S = 0.05


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks, again and again until every one has ended; their outcomes are dropped."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)
    # Retrieved, so that an exception one of them ended with is not logged as never retrieved.
    await asyncio.gather(*tasks, return_exceptions=True)
