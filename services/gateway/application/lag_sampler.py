"""The gateway's sampler of every durable consumer's lag, one sample per consumer per slot.

Each replica wakes at the start of every slot and samples what the consumers view reads
(services.gateway.application.ops.consumers); the samples carry an id of consumer and slot, so
JetStream keeps one of each whichever replicas took it. A failed pass is logged and the next
slot tries again: the sampler never takes the gateway down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import nats.errors
import nats.js.errors

from contracts import subjects
from contracts.consumers import CONSUMERS, READERS
from contracts.ops import LagSample
from quarry_runtime.metrics import Bounded
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.adapters.lag_samples import LagSamples
from services.gateway.application import ops
from services.gateway.domain.lag_trend import sample_id, slot_of, slot_start
from services.gateway.errors import GatewayError
from services.gateway.meters import LAG_SAMPLES, OWED_SECONDS

log = logging.getLogger(__name__)

# The consumers the code declares: any other durable (made by hand) is not a series of its own.
_DURABLES = Bounded(c.durable for table in (CONSUMERS, READERS) for cs in table.values() for c in cs)
_STREAMS = Bounded((subjects.STREAM, subjects.DEADLETTER_STREAM))


class LagSampler:
    def __init__(self, state: Callable[[], Awaitable[JetStreamState]], samples: LagSamples, interval_s: float) -> None:
        self._state, self._samples, self.interval_s = state, samples, interval_s

    async def sample(self, slot: int | None = None) -> tuple[int, int]:
        """Sample every durable consumer now, as slot `slot` (the current one by default):
        (stored, duplicates)."""
        view = await ops.consumers(await self._state())
        slot = slot_of(view.read_at, self.interval_s) if slot is None else slot
        written = await asyncio.gather(
            *(
                self._samples.write(
                    LagSample(
                        stream=c.stream,
                        consumer=c.name,
                        at=view.read_at,
                        pending=c.pending,
                        ack_pending=c.ack_pending,
                        redelivered=c.redelivered,
                        lag_s=c.lag_s,
                    ),
                    sample_id(c.stream, c.name, slot),
                )
                for c in view.consumers
            )
        )
        for c in view.consumers:
            if c.lag_s is not None and _DURABLES(c.name) != "other":
                OWED_SECONDS.labels(_STREAMS(c.stream), c.name).set(c.lag_s)
        stored = sum(written)
        LAG_SAMPLES.labels("stored").inc(stored)
        LAG_SAMPLES.labels("duplicate").inc(len(written) - stored)
        return stored, len(written) - stored

    async def run(self) -> None:
        """Sample at the start of every slot until cancelled."""
        while True:
            slot = slot_of(datetime.now(UTC), self.interval_s) + 1
            await asyncio.sleep(max(0.0, slot_start(slot, self.interval_s) - time.time()))
            try:
                await self.sample(slot)
            except (GatewayError, nats.errors.Error, nats.js.errors.Error) as exc:
                LAG_SAMPLES.labels("failed").inc()
                log.warning("lag sample of slot %s not taken: %s: %s", slot, type(exc).__name__, exc)
