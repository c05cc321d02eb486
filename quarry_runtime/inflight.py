"""Counting the processes a message has killed, so that it is dead-lettered instead of killing more.

A handler that raises is retried and then dead-lettered by the bus. A message whose handling
kills the process (out of memory, a crash in native code, a kill by a supervisor) leaves
nothing behind but a redelivery after the ack wait, and would take down every replica it
reaches, again and again. So before a handler runs on a redelivery, the bus marks the message (stream,
consumer, stream sequence) as in flight in its service's JetStream key-value bucket, and removes the
mark when the handling ends, however it ends. A delivery that finds the mark still there
counts a handling that never ended: a process died with the message in hand. Marks expire
with the bucket's TTL, so one left by a message that was never redelivered does not stay.

The marks are bookkeeping: while the bucket cannot be written (the bus is away, JetStream's
store is full) a message is handled unmarked rather than not at all, and the marks are not tried
again for a few seconds, so each message does not wait out a write time-out first. A mark this
process could not remove, or may have written without hearing back (the bus or its own event loop
too slow to answer in time: a database outage holds a service's loop for seconds), is remembered,
so its next delivery here is not taken for a death: otherwise two such outages would dead-letter
a healthy message as if it had killed two processes.

Only redeliveries are marked. A first delivery has no earlier handling to count, and marking it
cost every message two stored writes (the mark, then its removal after the ack) on the normal
path, the largest part of a hop. So a handling dies unseen on its first delivery, and the count
starts at the second: a poison message kills one process more than `max_deaths` before it is
dead-lettered. Inferring that first death from the delivery count (a redelivery with no record of
a nack) was left out: a lost ack or nack in a NATS outage, or an ack wait that expires under load,
would count as a death that never happened. A redelivery is rare, so its mark is written and its
count read before the handler runs; an acknowledged one removes its mark without waiting
(`release`): the message is not delivered again, so nothing waits on the removal.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_OP

from quarry_runtime.buckets import Buckets
from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

log = logging.getLogger(__name__)


def bucket_of(service: str) -> str:
    """Each service keeps its marks apart: its NATS user may write its own bucket only."""
    return f"quarry_inflight_{service}"


TTL_S = 24 * 3600.0
# After a failed write, how long messages go unmarked before the bucket is tried again.
RETRY_AFTER_FAILURE_S = 5.0
LOG_INTERVAL_S = 30.0
# Marks this process failed to remove, remembered (boundedly) until their message comes back.
LEFT_MEMORY = 10_000


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
        clock: Callable[[], float] = time.monotonic,
        connection: Callable[[], Client] | None = None,
    ) -> None:
        self._connection = connection
        self._subject_prefix = f"$KV.{bucket_of(service)}."
        self._bucket = Buckets(jetstream, replicas=replicas, kv_max_bytes=max_bytes).key_value(
            bucket_of(service), ttl_s=TTL_S
        )
        self._clock = clock
        self._down_until = float("-inf")
        self._logged = float("-inf")
        self._left: OrderedDict[str, None] = OrderedDict()

    async def open(self) -> None:
        """Create the bucket when the consumers start, not on a message's redelivery; a failure
        is only logged here: the redelivery that needs the bucket tries again."""
        try:
            await self._bucket.open()
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the consumer
            log.warning(
                "in-flight marks' bucket not opened (%s: %s); retried when a message is redelivered",
                type(exc).__name__,
                exc,
            )

    async def begin(self, key: str) -> int | None:
        """Mark the message as in flight; returns how many earlier handlings of it never ended,
        or None when the mark could not be written (then there is nothing to `end`)."""
        if self._clock() < self._down_until:
            return None
        try:
            return await self._begin(key)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the consumer
            self._remember(key)  # the create may have reached the bucket
            self._failed("write", key, exc)
            return None

    async def release(self, key: str) -> None:
        """`end` for an acknowledged message: the removal is sent, not waited for."""
        if self._connection is None:
            await self.end(key)
            return
        try:
            # The mark was stored (and answered) before the handler ran: this cannot overtake it.
            await self._connection().publish(self._subject_prefix + key, headers={KV_OP: KV_DEL})
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the consumer
            self._remember(key)
            self._failed("removal", key, exc)
            return
        self._left.pop(key, None)

    async def _begin(self, key: str) -> int:
        kv = await self._bucket.open()
        try:
            await kv.create(key, b"1")
            self._left.pop(key, None)
            return 0
        except KeyWrongLastSequenceError:
            pass  # a mark was left: a process died (or is stuck) with this message in hand
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # ended meanwhile by the handling that left it
            await kv.put(key, b"1")
            self._left.pop(key, None)
            return 0
        unfinished = int(entry.value or b"0")
        if key in self._left:
            # This process left the mark when its handling ended but the bucket could not be
            # written: that handling did not die, so it is not counted, and this one takes its place.
            await kv.put(key, str(unfinished).encode())
            del self._left[key]
            return max(0, unfinished - 1)
        await kv.put(key, str(unfinished + 1).encode())
        return unfinished

    async def end(self, key: str) -> None:
        """The handling ended (acked, retried later or dead-lettered): no death to count."""
        try:
            kv = await self._bucket.open()
            await kv.delete(key)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must not stop the consumer
            self._remember(key)
            self._failed("removal", key, exc)
            return
        self._left.pop(key, None)

    def _remember(self, key: str) -> None:
        # An acknowledged message is never delivered again to forget its key: keep a bounded few.
        self._left[key] = None
        self._left.move_to_end(key)
        while len(self._left) > LEFT_MEMORY:
            self._left.popitem(last=False)

    def _failed(self, what: str, key: str, exc: Exception) -> None:
        now = self._clock()
        self._down_until = now + RETRY_AFTER_FAILURE_S
        if now - self._logged >= LOG_INTERVAL_S:
            self._logged = now
            log.warning(
                "in-flight mark %s of %s failed (%s: %s); messages go unmarked for %.0fs at a time until it works",
                what,
                key,
                type(exc).__name__,
                exc,
                RETRY_AFTER_FAILURE_S,
            )
