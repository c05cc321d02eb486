"""Deleted datasets, remembered in a JetStream key-value bucket shared by every retriever replica.

An upload and its dataset's deletion travel on different consumers, so an upload accepted just
before the deletion can be indexed just after it: under a dataset id nothing lists any more,
searchable by nobody and deleted by nothing. The deletion leaves a tombstone here first; an
upload into a tombstoned dataset is refused, and one that was being indexed when the tombstone
landed is taken out again.
"""

from __future__ import annotations

import hashlib

from nats.js.errors import KeyNotFoundError

from quarry_runtime.bus import Bus

BUCKET = "retriever_deleted_datasets"


def _key(tenant_id: str, dataset_id: str) -> str:
    # KV keys allow few characters; tenant and dataset ids are the tenant's to choose.
    return hashlib.sha256(f"{tenant_id}\x1f{dataset_id}".encode()).hexdigest()


class DeletedDatasets:
    def __init__(self, bus: Bus, *, bucket: str = BUCKET) -> None:
        self._kv = bus.buckets.key_value(bucket)

    async def bury(self, tenant_id: str, dataset_id: str) -> None:
        await (await self._kv.open()).put(_key(tenant_id, dataset_id), dataset_id.encode())

    async def is_deleted(self, tenant_id: str, dataset_id: str) -> bool:
        try:
            entry = await (await self._kv.open()).get(_key(tenant_id, dataset_id))
        except KeyNotFoundError:
            return False
        return entry.value is not None
