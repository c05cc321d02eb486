"""The service instances' latest heartbeats (quarry_runtime.heartbeat), read from their bucket.

One ordered, ephemeral watch over every key, stopped once it has delivered the latest value of
each: the bucket holds one entry per instance started within a day, so this stays small. An
entry that does not parse (written by a newer version, or by hand) is skipped.
"""

from __future__ import annotations

import logging

import nats.errors
import nats.js.errors
from pydantic import ValidationError

from contracts.ops import ServiceHeartbeat
from quarry_runtime.buckets import KeyValueBucket
from services.gateway.errors import Unavailable

log = logging.getLogger(__name__)
READ_TIMEOUT_S = 5.0


class Heartbeats:
    def __init__(self, bucket: KeyValueBucket) -> None:
        self._bucket = bucket

    async def latest(self) -> list[ServiceHeartbeat]:
        """Each instance's latest heartbeat, in the bucket's key order."""
        try:
            kv = await self._bucket.open()
            watcher = await kv.watchall(ignore_deletes=True)
            found: list[ServiceHeartbeat] = []
            try:
                while (entry := await watcher.updates(timeout=READ_TIMEOUT_S)) is not None:  # type: ignore[no-untyped-call]
                    try:
                        found.append(ServiceHeartbeat.model_validate_json(entry.value or b""))
                    except ValidationError:
                        log.warning("heartbeat %s skipped: not a heartbeat this gateway reads", entry.key)
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            raise Unavailable(f"the heartbeats could not be read: {type(exc).__name__}") from exc
        return found
