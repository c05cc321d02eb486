"""JetStream buckets (key-value and object stores), opened one way by every service.

A bucket is created on first use by whichever service gets there first, on file, with the
deployment's replicas (`QUARRY_STREAM_REPLICAS`) and a byte limit, so that a full bucket refuses
a write instead of filling the disk the bus needs. One that exists with another configuration
(set by an operator) is used as it is, but given the byte limit if it has none. `Buckets` hands
out every bucket of a service with those settings, so no caller can forget them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES, DEFAULT_OBJECT_STORE_MAX_BYTES, RuntimeSettings

log = logging.getLogger(__name__)

# A refused JetStream API call gets no answer at all (the server reports the permission error
# to the connection), so it is known only by its time-out: keep that short.
UPDATE_TIMEOUT_S = 2.0

B = TypeVar("B", KeyValue, ObjectStore)


class Bucket(Generic[B]):
    """One bucket, opened (created if missing) on first use and then kept."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        bucket: str,
        stream: str,
        config: KeyValueConfig | ObjectStoreConfig,
        max_bytes: int,
        create: Callable[[JetStreamContext], Awaitable[B]],
        existing: Callable[[JetStreamContext], Awaitable[B]],
    ) -> None:
        # A callable, not a context: the bus's connection exists only once the bus has started.
        self._jetstream = jetstream
        self.bucket = bucket
        self._stream = stream
        self.config = config  # what a bucket created here gets
        self._max_bytes = max_bytes
        self._create: Callable[[JetStreamContext], Awaitable[B]] = create
        self._existing: Callable[[JetStreamContext], Awaitable[B]] = existing
        self._opened: B | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> B:
        if self._opened is not None:
            return self._opened
        async with self._opening:
            if self._opened is None:
                js = self._jetstream()
                try:
                    self._opened = await self._create(js)
                except BadRequestError:
                    opened = await self._existing(js)
                    await limit_stream(js, self._stream, self._max_bytes)
                    self._opened = opened
            return self._opened


KeyValueBucket = Bucket[KeyValue]
ObjectStoreBucket = Bucket[ObjectStore]


@dataclasses.dataclass(frozen=True, slots=True)
class Buckets:
    """The buckets of one service: each on its bus's connection, with the deployment's replicas
    and byte limits."""

    jetstream: Callable[[], JetStreamContext]
    _: dataclasses.KW_ONLY
    replicas: int
    kv_max_bytes: int = DEFAULT_KV_MAX_BYTES
    object_store_max_bytes: int = DEFAULT_OBJECT_STORE_MAX_BYTES

    @classmethod
    def from_settings(cls, jetstream: Callable[[], JetStreamContext], settings: RuntimeSettings) -> Buckets:
        return cls(
            jetstream,
            replicas=settings.stream_replicas,
            kv_max_bytes=settings.kv_max_bytes,
            object_store_max_bytes=settings.object_store_max_bytes,
        )

    def key_value(self, bucket: str, *, ttl_s: float | None = None, max_bytes: int | None = None) -> KeyValueBucket:
        """A key-value bucket keeping one version per key; `ttl_s`: entries expire after it."""
        config = KeyValueConfig(
            bucket=bucket,
            history=1,
            storage=StorageType.FILE,
            replicas=self.replicas,
            max_bytes=max_bytes if max_bytes is not None else self.kv_max_bytes,
            ttl=ttl_s,
        )
        return Bucket(
            self.jetstream,
            bucket,
            f"KV_{bucket}",
            config,
            config.max_bytes or self.kv_max_bytes,
            lambda js: js.create_key_value(config),
            lambda js: js.key_value(bucket),
        )

    def object_store(self, bucket: str, *, max_bytes: int | None = None) -> ObjectStoreBucket:
        limit = max_bytes if max_bytes is not None else self.object_store_max_bytes
        config = ObjectStoreConfig(storage=StorageType.FILE, replicas=self.replicas, max_bytes=limit)
        return Bucket(
            self.jetstream,
            bucket,
            f"OBJ_{bucket}",
            config,
            limit,
            lambda js: js.create_object_store(bucket, config=config),
            lambda js: js.object_store(bucket),
        )


async def limit_stream(js: JetStreamContext, stream: str, max_bytes: int) -> None:
    """Give a stream (a bucket's) `max_bytes` when it has no byte limit; a limit someone chose stays."""
    info = await js.stream_info(stream)
    if info.config.max_bytes is None or info.config.max_bytes < 0:
        await update_stream(js, dataclasses.replace(info.config, max_bytes=max_bytes))


async def update_stream(js: JetStreamContext, config: StreamConfig) -> bool:
    """Apply `config` to an existing stream; False, with a warning, when this connection may not.

    A service's own NATS user may not update any stream (an update could add a subject transform
    or a source that forges another service's subjects: quarry_security.natsauth), so the stream
    keeps its configuration until an operator applies it: `python -m devtools.cli streams`.
    """
    try:
        await asyncio.wait_for(js.update_stream(config), UPDATE_TIMEOUT_S)
    except TimeoutError:
        log.warning(
            "stream %s keeps its configuration: this NATS user may not update it (run "
            "`python -m devtools.cli streams` with an operator's user to apply max_bytes and replicas)",
            config.name,
        )
        return False
    return True
