"""Parsing untrusted files (uploads, fetched pages) in worker processes that a bomb can kill.

A small PDF or HTML file can unpack into gigabytes or minutes of work. Each parse runs in a
process of a small pool (pebble) whose address space is capped (RLIMIT_AS), which gets a
CPU-time allowance per parse (RLIMIT_CPU: the kernel ends it with SIGXCPU) and a wall-clock
deadline (pebble terminates it); the extractors also stop at a number of pages and of
characters. A parse that breaks a limit is refused with the reason (`OverLimit`), the pool
starts a fresh process in place of one that died, and the retriever itself never holds more
than the bytes it handed over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import resource
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from services.retriever.web.extract import OverLimit, TextLimits

T = TypeVar("T")

_MIB = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    memory_mb: int = 1024
    cpu_s: int = 20
    wall_s: float = 30.0
    max_pages: int = 2000
    max_chars: int = 4_000_000
    workers: int = 2
    parses_per_worker: int = 200  # then a fresh process, so a slow leak in a parser cannot grow for ever

    @property
    def text(self) -> TextLimits:
        """What one parse may yield."""
        return TextLimits(max_chars=self.max_chars, max_pages=self.max_pages)


class ParserPool:
    """Runs parsing functions in limited worker processes, started on first use."""

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()
        self._pool: ProcessPool | None = None

    def _workers(self) -> ProcessPool:
        if self._pool is not None and not self._pool.active:
            self._discard()
        if self._pool is None:
            # A fork of a process with threads (the event loop's, NATS's) can deadlock; a fork
            # server is a clean single-threaded parent with the parsers already imported.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__, "services.retriever.extraction"])
            self._pool = ProcessPool(
                max_workers=self.limits.workers,
                max_tasks=self.limits.parses_per_worker,
                initializer=_cap_memory,
                initargs=(self.limits.memory_mb * _MIB,),
                context=context,
            )
        return self._pool

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` in a worker process; `OverLimit` when it broke a limit."""
        limits = self.limits
        future = self._workers().schedule(
            _within_cpu_time, args=(limits.cpu_s, function, *args), kwargs=kwargs, timeout=limits.wall_s
        )
        try:
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError as exc:
            raise OverLimit(f"parsing took longer than {limits.wall_s:g} s") from exc
        except MemoryError as exc:
            raise OverLimit(f"parsing needed more than {limits.memory_mb} MiB") from exc
        except ProcessExpired as exc:
            raise OverLimit(_death(exc.exitcode, limits)) from exc
        except BrokenProcessPool as exc:
            # A worker died before pebble had seen it take the task (a bomb that kills at once,
            # on a busy machine): pebble then marks the whole pool broken for good. The parse is
            # refused like any other death, and the next one gets a fresh pool.
            self._discard()
            raise OverLimit(f"the parser died before it could report ({exc})") from exc

    def close(self) -> None:
        self._discard()

    def _discard(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.stop()  # type: ignore[no-untyped-call]
            pool.join()


def _death(exitcode: int | None, limits: ParseLimits) -> str:
    if exitcode == -signal.SIGXCPU:
        return f"parsing used more than {limits.cpu_s} s of CPU time"
    if exitcode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS):
        # A native parser that cannot allocate (the address space is capped) aborts or crashes.
        return f"the parser died ({_signal_name(exitcode)}), most likely over its {limits.memory_mb} MiB"
    return f"the parser died (exit code {exitcode})"


def _signal_name(exitcode: int) -> str:
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return str(exitcode)


def _cap_memory(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _within_cpu_time(cpu_s: int, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # RLIMIT_CPU counts the process's whole life, so each parse gets the limit on top of what
    # the worker has used so far; past it the kernel sends SIGXCPU, whose default is to end it.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = used + cpu_s
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        return function(*args, **kwargs)
    finally:
        # The allowance ends with the parse: left in force, it would kill the worker later, while
        # it pickles the result or waits for the next task, where pebble cannot tell whose
        # death it was and marks the whole pool broken.
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
