"""Large payloads beside the events: bytes in a JetStream object store, named by an event.

An event stays small (JetStream's message limit, and every consumer reads every byte of it);
what it carries instead is a `StoredObject` (bucket, name, sha256, size) that the consumer
reads back here, checked against the hash the producer recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.object_store import ObjectStore

from contracts.document import StoredObject
from quarry_runtime.kv import limit_stream
from quarry_runtime.settings import DEFAULT_OBJECT_STORE_MAX_BYTES


class BlobError(Exception):
    """An object is missing, or is not the one its reference names."""


class BlobStore:
    """One object-store bucket of at most `max_bytes`, created on first use (every service may be
    the first): when it is full, a put fails instead of filling the disk the bus needs."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        bucket: str,
        *,
        replicas: int = 1,
        max_bytes: int = DEFAULT_OBJECT_STORE_MAX_BYTES,
    ) -> None:
        # A callable, not a context: the bus's connection exists only once the bus has started.
        self._jetstream = jetstream
        self.bucket = bucket
        self._replicas = replicas
        self._max_bytes = max_bytes
        self._store: ObjectStore | None = None
        self._opening = asyncio.Lock()

    async def _bucket(self) -> ObjectStore:
        async with self._opening:
            if self._store is None:
                js = self._jetstream()
                config = ObjectStoreConfig(storage=StorageType.FILE, replicas=self._replicas, max_bytes=self._max_bytes)
                try:
                    self._store = await js.create_object_store(self.bucket, config=config)
                except nats.js.errors.BadRequestError:
                    # It exists with another configuration (e.g. set by an operator): use it as it
                    # is, with a byte limit if it had none.
                    self._store = await js.object_store(self.bucket)
                    await limit_stream(js, f"OBJ_{self.bucket}", self._max_bytes)
            return self._store

    async def put(self, name: str, data: bytes) -> StoredObject:
        """Store `data` under `name` (replacing any earlier object of that name); its reference."""
        store = await self._bucket()
        await store.put(name, data)
        return StoredObject(bucket=self.bucket, name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    async def get(self, ref: StoredObject) -> bytes:
        """The bytes a reference names; BlobError when they are gone or are not those bytes."""
        if ref.bucket != self.bucket:
            raise BlobError(f"object {ref.name!r} is in bucket {ref.bucket!r}, not {self.bucket!r}")
        store = await self._bucket()
        try:
            result = await store.get(ref.name)
        except nats.js.errors.ObjectNotFoundError as exc:
            raise BlobError(f"object {ref.name!r} is not in the store (deleted?)") from exc
        data = result.data or b""
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BlobError(f"object {ref.name!r} does not match its reference (size or sha256)")
        return data

    async def delete(self, name: str) -> bool:
        """Remove an object; False when there was none."""
        store = await self._bucket()
        try:
            await store.delete(name)
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            return False
        return True

    async def delete_under(self, prefix: str) -> int:
        """Remove every object whose name starts with `prefix`; how many there were."""
        if not prefix:
            raise ValueError("an empty prefix would delete the whole bucket")
        store = await self._bucket()
        try:
            found = await store.list(ignore_deletes=True)
        except nats.js.errors.NotFoundError:
            return 0  # an empty bucket
        deleted = 0
        for info in found:
            if info.name is not None and info.name.startswith(prefix) and await self.delete(info.name):
                deleted += 1
        return deleted
