"""The operators' views of the bus: every stream, and every durable consumer with its lag.

Read from JetStream at the moment of the request (nothing cached: an operator looks when
something is wrong). The lag of a consumer that owes messages is measured on the first one it
owes, found by sequence from its ack floor; one get per owing consumer and filter, at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.gateway.adapters.jetstream_state import ConsumerInfo, JetStreamState, StreamConfig, StreamInfo
from services.gateway.api.models.ops import (
    ConsumerListPublic,
    ConsumerPublic,
    StreamLimitsPublic,
    StreamListPublic,
    StreamPublic,
)
from services.gateway.domain.bus_lag import caught_up, lag_seconds, oldest_pending_seq, service_of

NS = 1e9


def _limit(value: int) -> int | None:
    """JetStream's "no limit" (-1, or 0 for some) as None."""
    return value if value > 0 else None


def _stream(info: StreamInfo) -> StreamPublic:
    config, state = info.config, info.state
    return StreamPublic(
        name=config.name,
        subjects=config.subjects,
        messages=state.messages,
        bytes=state.bytes,
        first_seq=state.first_seq,
        first_at=state.first_ts,
        last_seq=state.last_seq,
        last_at=state.last_ts,
        deleted=state.num_deleted,
        subject_count=state.num_subjects,
        consumer_count=state.consumer_count,
        replicas=config.num_replicas,
        limits=StreamLimitsPublic(
            max_msgs=_limit(config.max_msgs),
            max_bytes=_limit(config.max_bytes),
            max_age_s=config.max_age / NS if config.max_age > 0 else None,
            max_msgs_per_subject=_limit(config.max_msgs_per_subject),
            max_msg_size=_limit(config.max_msg_size),
            discard=config.discard,
            retention=config.retention,
            storage=config.storage,
        ),
        created_at=info.created,
    )


async def streams(state: JetStreamState) -> StreamListPublic:
    """Every JetStream stream: subjects, counts, first and last message, limits, replicas."""
    return StreamListPublic(streams=[_stream(info) for info in await state.streams()])


async def _consumer(state: JetStreamState, stream: StreamConfig, info: ConsumerInfo, now: datetime) -> ConsumerPublic:
    owed = None
    if not caught_up(info.num_pending, info.num_ack_pending):
        owed = await state.first_from(stream, oldest_pending_seq(info.ack_floor.stream_seq), info.config.filters())
    config = info.config
    return ConsumerPublic(
        stream=info.stream_name,
        name=info.name,
        service=service_of(info.name),
        filter_subjects=config.filters(),
        ack_policy=config.ack_policy,
        deliver_policy=config.deliver_policy,
        max_deliver=_limit(config.max_deliver),
        ack_wait_s=config.ack_wait / NS,
        pending=info.num_pending,
        ack_pending=info.num_ack_pending,
        redelivered=info.num_redelivered,
        waiting=info.num_waiting,
        delivered_seq=info.delivered.stream_seq,
        delivered_at=info.delivered.last_active,
        ack_floor_seq=info.ack_floor.stream_seq,
        ack_floor_at=info.ack_floor.last_active,
        oldest_pending_seq=owed.seq if owed else None,
        oldest_pending_at=owed.at if owed else None,
        lag_s=lag_seconds(now, info.num_pending, info.num_ack_pending, owed.at if owed else None),
        created_at=info.created,
    )


async def consumers(state: JetStreamState) -> ConsumerListPublic:
    """Every durable consumer of every stream, by stream and name, with its lag as time."""
    now = datetime.now(UTC)
    found = await state.streams()
    listed = await asyncio.gather(*(state.consumers(info.config.name) for info in found))
    durable = [
        (info.config, consumer)
        for info, of_stream in zip(found, listed, strict=True)
        for consumer in of_stream
        if consumer.config.durable_name
    ]
    views = await asyncio.gather(*(_consumer(state, config, consumer, now) for config, consumer in durable))
    return ConsumerListPublic(consumers=list(views), read_at=now)
