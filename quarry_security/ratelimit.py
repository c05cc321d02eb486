"""Sliding-window rate limits whose counters every replica sees.

A window is the list of call times (epoch seconds) within the last `window_s` seconds of one
key, at most `limit` long. Where it is kept is the `WindowStore`'s business:

* `KeyValueWindows`: a JetStream key-value bucket, written with compare-and-set (the revision
  read is the one the update must replace), so two replicas that read the same window cannot
  both add the call that fills it: one update fails and that replica reads again and decides
  on what the other wrote. The bucket's TTL is the longest window in use, so idle keys vanish.
* `MemoryWindows`: this process's memory, for tests and single-process tools.

The clock is wall time, shared by the replicas; skew between hosts shifts a window by the skew.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, Protocol

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError

from quarry_runtime.buckets import Buckets, KeyValueBucket


def bucket_of(service: str) -> str:
    """The bucket of one service's windows (its NATS user may write its own only)."""
    return f"quarry_{service}_rate_limits"


def shared_limiter(
    jetstream: Callable[[], JetStreamContext],
    service: str,
    *,
    replicas: int,
    max_bytes: int,
    longest_window_s: float,
) -> SlidingWindowLimiter:
    """A limiter whose windows every replica of `service` shares, kept in its own bucket; a key
    idle for the longest window is dropped by the server."""
    bucket = Buckets(jetstream, replicas=replicas, kv_max_bytes=max_bytes).key_value(
        bucket_of(service), ttl_s=longest_window_s
    )
    return SlidingWindowLimiter(KeyValueWindows(bucket))


# Compare-and-set attempts before a decision gives up; each failure means another replica
# recorded a call in between, so this many in a row only happens under a stampede on one key.
MAX_ATTEMPTS: Final = 32
MIN_RETRY_AFTER_S: Final = 0.001


class LimiterBusy(Exception):
    """The window could not be updated (too much contention on one key); the caller should refuse."""


class LimiterUnavailable(Exception):
    """The store of the windows cannot be reached (the bus is down or restarting)."""


@dataclass(frozen=True)
class Window:
    """A key's call times and the version of the store they were read at (None: absent)."""

    times: tuple[float, ...]
    revision: int | None


class WindowStore(Protocol):
    async def read(self, key: str) -> Window: ...

    async def write(self, key: str, times: tuple[float, ...], revision: int | None) -> int | None:
        """Store `times` if the key is still at `revision`: the new revision, or None when
        someone wrote in between."""
        ...


class MemoryWindows:
    """Windows in this process's memory, the least recently used dropped past `max_keys`."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: OrderedDict[str, Window] = OrderedDict()
        self._max_keys = max_keys

    async def read(self, key: str) -> Window:
        return self._windows.get(key, Window((), None))

    async def write(self, key: str, times: tuple[float, ...], revision: int | None) -> int | None:
        current = self._windows.get(key)
        if (current.revision if current else None) != revision:
            return None
        written = Window(times, (revision or 0) + 1)
        _bounded_put(self._windows, key, written, self._max_keys)
        return written.revision


class KeyValueWindows:
    """Windows in a JetStream key-value bucket, one entry per key, updated by revision."""

    def __init__(self, bucket: KeyValueBucket) -> None:
        self._bucket = bucket

    async def read(self, key: str) -> Window:
        try:
            kv = await self._bucket.open()
            entry = await kv.get(key)
        except KeyNotFoundError:  # absent, deleted or aged out by the bucket's TTL
            return Window((), None)
        except (nats.errors.Error, TimeoutError) as exc:
            raise LimiterUnavailable(f"rate limit bucket {self._bucket.bucket}: {exc!r}") from exc
        times = tuple(float(t) for t in json.loads(entry.value or b"[]"))
        return Window(times, entry.revision)

    async def write(self, key: str, times: tuple[float, ...], revision: int | None) -> int | None:
        value = json.dumps([round(t, 3) for t in times]).encode()
        try:
            kv = await self._bucket.open()
            if revision is None:
                return int(await kv.create(key, value))
            return int(await kv.update(key, value, last=revision))
        except (KeyWrongLastSequenceError, BadRequestError):
            # create() on an existing key fails with "wrong last sequence" too (a BadRequest on
            # older servers): another replica got there first.
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise LimiterUnavailable(f"rate limit bucket {self._bucket.bucket}: {exc!r}") from exc


def store_key(namespace: str, *parts: str) -> str:
    """A bucket key for a limit's key: hashed, since emails, addresses and ids hold characters
    (`@`, `:`) a key may not, and the bucket need not show who was limited."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"{namespace}.{digest}"


class SlidingWindowLimiter:
    """At most `limit` calls per key within any `window_s` seconds, counted in `store`.

    The version of each window this process last read or wrote is kept (the most recent
    `cached_keys`), and a call is first written against it: while no other replica writes the
    key, a call costs one round trip (the write) instead of two. A stale copy only makes that
    write fail, and the window is read again; a copy that looks full is read again before
    refusing, since another replica may have cleared it.
    """

    def __init__(
        self, store: WindowStore | None = None, clock: Callable[[], float] = time.time, cached_keys: int = 10_000
    ) -> None:
        self.store: WindowStore = store or MemoryWindows()
        self._clock = clock
        self._seen: OrderedDict[str, Window] = OrderedDict()
        self._cached_keys = cached_keys
        # Calls on one key take turns within this process (a lock and how many hold or await
        # it): concurrent requests of one replica queue instead of failing each other's
        # compare-and-set until the attempts run out.
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        lock, users = self._turns.get(key) or (asyncio.Lock(), 0)
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)

    async def hit(self, key: str, limit: int, window_s: float) -> float | None:
        """Record a call if the window has room and return None; else, recording nothing, the
        seconds until it has room again."""
        async with self._turn(key):
            return await self._hit(key, limit, window_s)

    async def _hit(self, key: str, limit: int, window_s: float) -> float | None:
        window = self._seen.get(key)
        from_cache = window is not None
        for _ in range(MAX_ATTEMPTS):
            if window is None:
                window, from_cache = await self.store.read(key), False
            now = self._clock()
            live = _live(window.times, now, window_s)
            if len(live) >= limit:
                if from_cache:
                    window = None
                    continue
                _bounded_put(self._seen, key, window, self._cached_keys)
                return _retry_after(live, now, window_s, limit)
            times = (*live, now)
            revision = await self.store.write(key, times, window.revision)
            if revision is not None:
                _bounded_put(self._seen, key, Window(times, revision), self._cached_keys)
                return None
            window = None  # another replica wrote in between: decide on what it wrote
        raise LimiterBusy(f"rate limit window {key} kept changing under {MAX_ATTEMPTS} attempts")

    async def peek(self, key: str, limit: int, window_s: float) -> float | None:
        """What `hit` would answer now, recording nothing."""
        window = await self.store.read(key)
        now = self._clock()
        live = _live(window.times, now, window_s)
        return _retry_after(live, now, window_s, limit) if len(live) >= limit else None

    async def used(self, key: str, window_s: float) -> int:
        window = await self.store.read(key)
        return len(_live(window.times, self._clock(), window_s))

    async def clear(self, key: str) -> None:
        """Forget the key's calls (e.g. an account's failed log-ins once one succeeds)."""
        async with self._turn(key):
            self._seen.pop(key, None)
            for _ in range(MAX_ATTEMPTS):
                window = await self.store.read(key)
                if not window.times or await self.store.write(key, (), window.revision) is not None:
                    return


def _bounded_put(windows: OrderedDict[str, Window], key: str, window: Window, most: int) -> None:
    """Keep `window` as the most recently used, dropping the least recently used past `most`."""
    windows[key] = window
    windows.move_to_end(key)
    while len(windows) > most:
        windows.popitem(last=False)


def _live(times: tuple[float, ...], now: float, window_s: float) -> tuple[float, ...]:
    horizon = now - window_s
    return tuple(t for t in times if t > horizon)


def _retry_after(live: tuple[float, ...], now: float, window_s: float, limit: int) -> float:
    """Seconds until enough calls leave the window to make room for one (at least 1 ms)."""
    if limit <= 0:
        return window_s
    oldest_to_leave = sorted(live)[len(live) - limit]
    return max(MIN_RETRY_AFTER_S, oldest_to_leave + window_s - now)
