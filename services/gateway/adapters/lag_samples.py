"""The consumers' lag samples (contracts.ops.LagSample), kept in a JetStream stream of their own.

Why a stream: samples are a time series read by consumer and time, which a stream with a subject
per consumer answers with direct gets (the first sample at a time, then batches on the subject),
and JetStream bounds it for us: a day of age, a number of samples per consumer and a byte limit,
the oldest dropped first. Its duplicate window drops a second replica's sample of the same
consumer and slot (services.gateway.domain.lag_trend.sample_id). A key-value bucket with history
would keep at most 64 versions a key, far short of a day of samples.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from pydantic import ValidationError

from contracts import subjects
from contracts.ops import LAG_SAMPLES_KEPT_S, LagSample
from quarry_runtime.streams import ensure_stream
from services.gateway.adapters.jetstream_messages import JetStreamMessages
from services.gateway.errors import Unavailable

log = logging.getLogger(__name__)

# A day at the longest sample interval's most frequent setting (30 s) and a little more; a faster
# interval keeps fewer hours. A read never returns more than this per consumer.
SAMPLES_PER_CONSUMER = 3000
MAX_BYTES = 128 * 1024 * 1024
# Longer than any sample interval (at most 300 s): two replicas' samples of one slot meet in it.
DUPLICATE_WINDOW_S = 600.0
BATCH = 1000
MSG_ID = "Nats-Msg-Id"


def stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(
        name=subjects.LAG_STREAM,
        subjects=list(subjects.LAG_SUBJECTS),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=LAG_SAMPLES_KEPT_S,
        max_msgs_per_subject=SAMPLES_PER_CONSUMER,
        max_bytes=MAX_BYTES,
        duplicate_window=DUPLICATE_WINDOW_S,
        allow_direct=True,
        num_replicas=replicas,
    )


class LagSamples:
    """Writes through the gateway's own connection (`jetstream`), reads through `client`."""

    def __init__(
        self, jetstream: Callable[[], JetStreamContext], client: Callable[[], Client], *, replicas: int
    ) -> None:
        self._jetstream, self._client, self._replicas = jetstream, client, replicas
        self._ready = False
        self._making = asyncio.Lock()

    async def ensure(self) -> None:
        """Create the stream when missing; one an operator configured otherwise is used as it is."""
        if self._ready:
            return
        async with self._making:
            if not self._ready:
                await ensure_stream(self._jetstream(), stream_config(self._replicas), keep_existing=True)
                self._ready = True

    async def write(self, sample: LagSample, msg_id: str) -> bool:
        """Store `sample`; False when JetStream had a sample with `msg_id` already (another replica's)."""
        await self.ensure()
        subject = subjects.lag_sample(sample.stream, sample.consumer)
        ack = await self._jetstream().publish(
            subject, sample.model_dump_json().encode(), headers={MSG_ID: msg_id}, stream=subjects.LAG_STREAM
        )
        return not ack.duplicate

    async def read(self, stream: str, consumer: str, since: datetime) -> list[LagSample]:
        """The consumer's samples stored at or after `since`, oldest first (at most
        `SAMPLES_PER_CONSUMER`, which is all the stream keeps of one consumer)."""
        await self.ensure()
        messages = JetStreamMessages(self._client())
        subject = subjects.lag_sample(stream, consumer)
        try:
            first = await messages.first_at(subjects.LAG_STREAM, since, subject)
            if first is None:
                return []
            found = [first]
            while len(found) < SAMPLES_PER_CONSUMER:
                page = await messages.batch(subjects.LAG_STREAM, found[-1].seq + 1, BATCH, subject)
                found += page
                if len(page) < BATCH:
                    break
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            raise Unavailable(f"the lag samples could not be read: {type(exc).__name__}") from exc
        samples: list[LagSample] = []
        for message in found[:SAMPLES_PER_CONSUMER]:
            try:
                samples.append(LagSample.model_validate_json(message.data))
            except ValidationError:
                log.warning("lag sample #%s skipped: not a sample this gateway reads", message.seq)
        return samples
