"""Per-tenant, per-tool rate limits: a sliding window of call times, kept in this process's memory.

One replica sees every tool request in the embedded default, so its window is exact. With
several policy replicas each would count only the requests it happened to consume, letting a
tenant through up to N times its limit. A multi-replica deployment needs one of:

* a shared counter: a NATS KV bucket (or Redis) per (tenant, tool) updated with
  compare-and-set, at the price of a round trip per decision;
* partitioning: tool requests published on `tool.v1.requested.<partition>` with the partition
  derived from the tenant, and one consumer (replica) per partition, so each tenant's window
  lives in exactly one process and stays exact without a round trip.

The window restarts empty when the service restarts: a tenant may get one extra window's
worth of calls at a restart, which is the price of keeping this off the disk.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Final

PRUNE_EVERY: Final = 10_000


class SlidingWindowLimiter:
    """Allows at most `limit` calls per key within any `window_s` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._since_prune = 0
        self._longest_window = 0.0

    def hit(self, key: tuple[str, str], limit: int, window_s: float) -> bool:
        """Record a call if the window has room; False (and nothing recorded) when it is full."""
        now = self._clock()
        calls = self._window(key, now, window_s)
        if len(calls) >= limit:
            return False
        calls.append(now)
        self._longest_window = max(self._longest_window, window_s)
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:
            self._prune(now)
        return True

    def peek(self, key: tuple[str, str], limit: int, window_s: float) -> bool:
        """Whether a call now would be allowed, without recording one (for simulations)."""
        calls = self._calls.get(key)
        if calls is None:
            return limit > 0
        now = self._clock()
        return sum(1 for t in calls if t > now - window_s) < limit

    def retry_after(self, key: tuple[str, str], window_s: float) -> float:
        """Seconds (at least 0.001) until the oldest call in the window leaves it, making room for one."""
        calls = self._calls.get(key)
        now = self._clock()
        live = [t for t in calls or () if t > now - window_s]
        return max(0.001, live[0] + window_s - now) if live else 0.001

    def used(self, key: tuple[str, str], window_s: float) -> int:
        calls = self._calls.get(key)
        return 0 if calls is None else sum(1 for t in calls if t > self._clock() - window_s)

    def _window(self, key: tuple[str, str], now: float, window_s: float) -> deque[float]:
        calls = self._calls.get(key)
        if calls is None:
            calls = self._calls[key] = deque()
        horizon = now - window_s
        while calls and calls[0] <= horizon:
            calls.popleft()
        return calls

    def _prune(self, now: float) -> None:
        """Forget keys with no call within the longest window in use, so idle tenants do not accumulate."""
        self._since_prune = 0
        horizon = now - self._longest_window
        idle = [key for key, calls in self._calls.items() if not calls or calls[-1] <= horizon]
        for key in idle:
            del self._calls[key]
