"""Quarry's JetStream streams: the event stream and the dead letters, set up by every service, and
the one way any stream is created."""

from __future__ import annotations

import logging

import nats.js.errors
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

from contracts import subjects
from quarry_runtime.buckets import update_stream
from quarry_runtime.settings import DEFAULT_DEADLETTER_MAX_BYTES, DEFAULT_STREAM_MAX_BYTES

DUPLICATE_WINDOW_S = 120.0

log = logging.getLogger(__name__)


async def ensure_streams(
    broker: NatsBroker,
    *,
    replicas: int = 1,
    max_bytes: int = DEFAULT_STREAM_MAX_BYTES,
    deadletter_max_bytes: int = DEFAULT_DEADLETTER_MAX_BYTES,
) -> None:
    """Create or update Quarry's streams; safe to call from every service at start-up."""
    js = broker.connection.jetstream()
    # Full, a stream drops its oldest messages: never a publish refused in the middle of a run
    # (and JetStream's message schedules allow nothing else). The services keep their own stores,
    # so what is lost is the oldest replayable history; size the limit for the replay horizon.
    for name, subs, limit in (
        (subjects.STREAM, subjects.STREAM_SUBJECTS, max_bytes),
        (subjects.DEADLETTER_STREAM, subjects.DEADLETTER_SUBJECTS, deadletter_max_bytes),
    ):
        config = StreamConfig(
            name=name,
            subjects=list(subs),
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=replicas,
            allow_msg_schedules=name == subjects.STREAM,
            # The orchestrator's timer sweep (quarry_runtime.timersweep) reads a pending schedule
            # by its subject, the one read its NATS user may make on this stream.
            allow_direct=name == subjects.STREAM,
            max_bytes=limit,
            discard=DiscardPolicy.OLD,
        )
        await ensure_stream(js, config)


async def ensure_stream(js: JetStreamContext, config: StreamConfig, *, keep_existing: bool = False) -> None:
    """Create the stream `config` describes. One that exists with another configuration is brought
    up to date in what Quarry decides, or with `keep_existing` used as it is (a stream an
    operator may have sized otherwise)."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        if keep_existing:
            log.info("stream %s exists with another configuration: used as it is", config.name)
            return
        current = (await js.stream_info(str(config.name))).config
        if _managed(current) != _managed(config):
            await update_stream(js, config)


def _managed(config: StreamConfig) -> tuple[object, ...]:
    """The part of a stream's configuration that ensure_streams decides."""
    return (
        sorted(config.subjects or []),
        config.max_bytes,
        config.num_replicas,
        config.duplicate_window,
        bool(config.allow_msg_schedules),
        bool(config.allow_direct),
        config.discard,
    )
