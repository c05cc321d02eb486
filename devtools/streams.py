"""Apply the configured limits and replicas to Quarry's streams and buckets, as an operator.

The services create what is missing, but their own NATS users may not update a stream
(quarry_security.natsauth), so a changed QUARRY_*_MAX_BYTES or QUARRY_STREAM_REPLICAS reaches
existing streams only through this, run with a user without limits (`quarry streams`).
"""

from __future__ import annotations

import dataclasses

from nats.js.errors import NotFoundError

from contracts.document import UPLOADS_BUCKET
from quarry_runtime.buckets import update_stream
from quarry_runtime.bus import Bus
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.tenant_models import BUCKET as TENANT_MODELS_BUCKET
from quarry_runtime.worker import JOURNAL_BUCKET
from quarry_security.delegation import KEY_BUCKET
from quarry_security.natsauth import DELETED_DATASETS_BUCKET

KV_BUCKETS = (JOURNAL_BUCKET, KEY_BUCKET, TENANT_MODELS_BUCKET, DELETED_DATASETS_BUCKET)
OBJECT_STORES = (UPLOADS_BUCKET,)


async def configure(settings: RuntimeSettings) -> list[str]:
    """Create or update the event and dead-letter streams, and bring every existing bucket to
    the configured byte limit and replicas; the names of the buckets that were changed."""
    bus = Bus.from_settings(settings, "operator")
    await bus.start()  # ensure_streams: creates, or updates what differs
    changed: list[str] = []
    try:
        js = bus.broker.connection.jetstream()
        wanted = [(f"KV_{b}", settings.kv_max_bytes) for b in KV_BUCKETS]
        wanted += [(f"OBJ_{b}", settings.object_store_max_bytes) for b in OBJECT_STORES]
        for stream, max_bytes in wanted:
            try:
                config = (await js.stream_info(stream)).config
            except NotFoundError:
                continue  # made with these limits by the first service that needs it
            if (config.max_bytes, config.num_replicas) == (max_bytes, settings.stream_replicas):
                continue
            update = dataclasses.replace(config, max_bytes=max_bytes, num_replicas=settings.stream_replicas)
            if await update_stream(js, update):
                changed.append(stream)
    finally:
        await bus.stop()
    return changed
