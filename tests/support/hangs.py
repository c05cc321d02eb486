"""What a test that is about to time out is waiting for: every asyncio task's stack.

pytest-timeout prints the threads' stacks, and a test that hangs in a coroutine shows only its
event loop waiting in `select`. Shortly before the timeout this prints, to the test's stderr
(shown with its failure), where each task of every running loop is suspended.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Generator

import pytest

MARGIN_S = 15.0  # before pytest-timeout's own report, which ends the test


def _timeout_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _dump(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    print(f"\n--- {len(tasks)} asyncio tasks, {MARGIN_S:.0f}s before the timeout ---", file=sys.stderr)
    for task in tasks:
        print(f"* {task.get_name()}: {task.get_coro()!r}", file=sys.stderr)
        task.print_stack(limit=20, file=sys.stderr)


def _dump_running_loops() -> None:
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if loop.is_running():
            loop.call_soon_threadsafe(_dump, loop)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    timeout = _timeout_of(item)
    timer = None
    if timeout > 2 * MARGIN_S:
        timer = threading.Timer(timeout - MARGIN_S, _dump_running_loops)
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
