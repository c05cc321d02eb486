"""A JetStream key-value bucket opened on first use, by whichever service gets there first."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from quarry_runtime.settings import DEFAULT_KV_MAX_BYTES

log = logging.getLogger(__name__)

# A refused JetStream API call gets no answer at all (the server reports the permission error
# to the connection), so it is known only by its time-out: keep that short.
UPDATE_TIMEOUT_S = 2.0


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
        if self._kv is not None:
            return self._kv
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
        await update_stream(js, dataclasses.replace(info.config, max_bytes=max_bytes))


async def update_stream(js: JetStreamContext, config: StreamConfig) -> bool:
    """Apply `config` to an existing stream; False, with a warning, when this connection may not.

    A service's own NATS user may not update any stream (an update could add a subject transform
    or a source that forges another service's subjects: quarry_runtime.natsauth), so the stream
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
