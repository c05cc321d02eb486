"""A JetStream key-value bucket opened on first use, by whichever service gets there first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue


class KeyValueBucket:
    """One bucket (one version kept per key, on file), created if missing; one that exists with
    another configuration (e.g. set by an operator) is used as it is."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        bucket: str,
        *,
        replicas: int = 1,
        ttl_s: float | None = None,
    ) -> None:
        # A callable, not a context: the bus's connection exists only once the bus has started.
        self._jetstream = jetstream
        self.bucket = bucket
        self._replicas = replicas
        self._ttl_s = ttl_s
        self._kv: KeyValue | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> KeyValue:
        async with self._opening:
            if self._kv is None:
                js = self._jetstream()
                config = KeyValueConfig(
                    bucket=self.bucket, history=1, storage=StorageType.FILE, replicas=self._replicas, ttl=self._ttl_s
                )
                try:
                    self._kv = await js.create_key_value(config)
                except BadRequestError:
                    self._kv = await js.key_value(self.bucket)
            return self._kv
