"""Counting the processes a message has killed, so that it is dead-lettered instead of killing more.

A handler that raises is retried and then dead-lettered by the bus. A message whose handling
kills the process (out of memory, a crash in native code, a kill by a supervisor) leaves
nothing behind but a redelivery after the ack wait, and would take down every replica it
reaches, again and again. So before a handler runs, the bus marks the message (stream,
consumer, stream sequence) as in flight in its service's JetStream key-value bucket, and removes the
mark when the handling ends, however it ends. A delivery that finds the mark still there
counts a handling that never ended: a process died with the message in hand. Marks expire
with the bucket's TTL, so one left by a message that was never redelivered does not stay.

A mark this process could not remove (the bus or its own event loop too slow to answer in
time: a database outage holds a service's loop for seconds) is remembered here, so the next
delivery to this process does not count a death that never happened: otherwise two such
outages would dead-letter a healthy message as if it had killed two processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from quarry_runtime.kv import KeyValueBucket
from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

log = logging.getLogger(__name__)


def bucket_of(service: str) -> str:
    """Each service keeps its marks apart: its NATS user may write its own bucket only."""
    return f"quarry_inflight_{service}"


TTL_S = 24 * 3600.0
LEFT_MEMORY = 10_000  # marks this process failed to clear, remembered at most


def mark_key(stream: str, consumer: str, sequence: int) -> str:
    """The mark of one message for one consumer (KV keys allow letters, digits, `-_=./`)."""
    return f"{stream}.{consumer}.{sequence}"


class InFlight:
    """In-flight marks of messages being handled, shared by every replica of one service."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        service: str,
        *,
        replicas: int = 1,
        max_bytes: int = DEFAULT_KV_MAX_BYTES,
    ) -> None:
        self._bucket = KeyValueBucket(
            jetstream, bucket_of(service), replicas=replicas, max_bytes=max_bytes, ttl_s=TTL_S
        )
        # Marks of handlings in this process that ended but may still be in the bucket: a
        # delete (or the create of `begin`) whose answer did not come back in time.
        self._left: set[str] = set()

    async def begin(self, key: str) -> int:
        """Mark the message as in flight; returns how many earlier handlings of it never ended."""
        try:
            return await self._begin(key)
        except (TimeoutError, nats.errors.Error):
            # The create may have reached the bucket: its mark is not a death, and this
            # delivery (not handled) comes back after the ack wait.
            self._remember(key)
            raise

    async def _begin(self, key: str) -> int:
        kv = await self._bucket.open()
        try:
            await kv.create(key, b"1")
            self._left.discard(key)
            return 0
        except KeyWrongLastSequenceError:
            pass  # a mark was left: a process died (or is stuck) with this message in hand
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # ended meanwhile by the handling that left it
            await kv.put(key, b"1")
            self._left.discard(key)
            return 0
        unfinished = int(entry.value or b"0")
        if key in self._left:
            # Left by a handling of this very process that ended: it stands for this one now.
            self._left.discard(key)
            return max(0, unfinished - 1)
        await kv.put(key, str(unfinished + 1).encode())
        return unfinished

    async def end(self, key: str) -> None:
        """The handling ended (acked, retried later or dead-lettered): no death to count."""
        try:
            kv = await self._bucket.open()
            await kv.delete(key)
        except (TimeoutError, nats.errors.Error) as exc:
            # Not the message's fault: remembered, so its next delivery here counts no death.
            self._remember(key)
            log.warning("could not clear the in-flight mark %s (%s); it counts no death here", key, type(exc).__name__)
            return
        self._left.discard(key)

    def _remember(self, key: str) -> None:
        # An acknowledged message is never delivered again to forget its key: keep a bounded few.
        if len(self._left) >= LEFT_MEMORY:
            self._left.pop()
        self._left.add(key)
