"""A JetStream key-value bucket opened on first use, by whichever service gets there first."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES


class KeyValueBucket:
    """One bucket (one version kept per key, on file, at most `max_bytes`), created if missing;
    one that exists with another configuration (e.g. set by an operator) is used as it is, but
    given `max_bytes` if it has no byte limit at all."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        bucket: str,
        *,
        replicas: int = 1,
        max_bytes: int = DEFAULT_KV_MAX_BYTES,
        ttl_s: float | None = None,
    ) -> None:
        # A callable, not a context: the bus's connection exists only once the bus has started.
        self._jetstream = jetstream
        self.bucket = bucket
        self._replicas = replicas
        self._max_bytes = max_bytes
        self._ttl_s = ttl_s
        self._kv: KeyValue | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> KeyValue:
        async with self._opening:
            if self._kv is None:
                config = KeyValueConfig(
                    bucket=self.bucket,
                    history=1,
                    storage=StorageType.FILE,
                    replicas=self._replicas,
                    max_bytes=self._max_bytes,
                    ttl=self._ttl_s,
                )
                self._kv = await open_key_value(self._jetstream(), config)
            return self._kv


async def open_key_value(js: JetStreamContext, config: KeyValueConfig) -> KeyValue:
    """Create the bucket `config` describes, or open the one of that name that exists."""
    try:
        return await js.create_key_value(config)
    except BadRequestError:
        kv = await js.key_value(config.bucket)
        if config.max_bytes is not None:
            await limit_stream(js, f"KV_{config.bucket}", config.max_bytes)
        return kv


async def limit_stream(js: JetStreamContext, stream: str, max_bytes: int) -> None:
    """Give a stream (a bucket's) `max_bytes` when it has no byte limit; a limit someone chose stays."""
    info = await js.stream_info(stream)
    if info.config.max_bytes is None or info.config.max_bytes < 0:
        await js.update_stream(dataclasses.replace(info.config, max_bytes=max_bytes))
