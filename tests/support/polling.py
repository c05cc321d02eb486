"""Waiting for a positive signal with a deadline, never sleeping and hoping."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T | Literal[False] | None]],
    timeout_s: float = ...,
    what: str = ...,
    *,
    every_s: float = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | Literal[False] | None], timeout_s: float = ..., what: str = ..., *, every_s: float = ...
) -> T: ...


async def eventually(
    check: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition", *, every_s: float = 0.05
) -> Any:
    """Poll `check` (plain or async) until it returns something truthy and return that; fail
    naming `what` once `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        await asyncio.sleep(every_s)


def wait_for(
    check: Callable[[], T | Literal[False] | None],
    timeout_s: float = 60.0,
    what: str = "condition",
    *,
    every_s: float = 0.2,
) -> T:
    """`eventually` for code without an event loop (a client of a stack in other processes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(every_s)
