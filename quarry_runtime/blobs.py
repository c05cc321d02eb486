"""Large payloads beside the events: bytes in a JetStream object store, named by an event.

An event stays small (JetStream's message limit, and every consumer reads every byte of it);
what it carries instead is a `StoredObject` (bucket, name, sha256, size) that the consumer
reads back here, checked against the hash the producer recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.object_store import ObjectStore

from contracts.document import StoredObject
from quarry_runtime.buckets import Buckets
from quarry_runtime.settings import DEFAULT_OBJECT_STORE_MAX_BYTES


class BlobError(Exception):
    """An object is missing, or is not the one its reference names."""


class BlobStore:
    """One object-store bucket of at most `max_bytes` (quarry_runtime.buckets)."""

    def __init__(
        self,
        jetstream: Callable[[], JetStreamContext],
        bucket: str,
        *,
        replicas: int,
        max_bytes: int = DEFAULT_OBJECT_STORE_MAX_BYTES,
    ) -> None:
        self.bucket = bucket
        self._store = Buckets(jetstream, replicas=replicas, object_store_max_bytes=max_bytes).object_store(bucket)

    async def _bucket(self) -> ObjectStore:
        return await self._store.open()

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
