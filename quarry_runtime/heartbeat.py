"""Each service instance says it is there: its name, instance id, start, version and health,
written every `interval_s` to its own key of a key-value bucket every service shares.

The operators' console reads the bucket (services.gateway) to show, per service, the instances
alive, their last heartbeat and health, and how often instances started within a day: a key per
start, so a crash-looping service leaves a key per restart. A key whose writes stopped is an
instance that went away; the bucket forgets it a day after its last write. An instance that
stops cleanly says so in a last write. A failed write is logged and tried again at the next beat:
the heartbeat never stops the service it reports on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import nats.errors
import nats.js.errors

from contracts.ops import HEARTBEATS_BUCKET, HEARTBEATS_KEPT_S, Health, ServiceHeartbeat
from quarry_runtime.buckets import Buckets, KeyValueBucket
from quarry_runtime.health import Health as Probe
from quarry_runtime.metrics import counter

log = logging.getLogger(__name__)

# The health an instance reports, and why not "ok".
Verdict = Callable[[], tuple[Health, list[str]]]
Clock = Callable[[], datetime]
FAREWELL_TIMEOUT_S = 2.0

HEARTBEATS = counter(
    "quarry_heartbeats",
    "Heartbeats this instance wrote (written) or could not write (failed)",
    ("outcome",),
)


def unknown_health() -> tuple[Health, list[str]]:
    return "unknown", []


class Heartbeat:
    """Writes `service`'s instance heartbeat to `bucket` every `interval_s` while `run` runs."""

    def __init__(
        self,
        service: str,
        bucket: KeyValueBucket,
        *,
        interval_s: float,
        version: str,
        verdict: Verdict = unknown_health,
        clock: Clock = lambda: datetime.now(UTC),
        instance: str | None = None,
    ) -> None:
        self._bucket, self._verdict, self._clock = bucket, verdict, clock
        self.interval_s = interval_s
        self.service, self.version = service, version
        self.instance = instance or uuid.uuid4().hex
        self.started_at = clock()
        self.record("unknown", [])  # a name that cannot be a key fails here, at start-up, not at each beat

    def record(self, health: Health, reasons: list[str]) -> ServiceHeartbeat:
        return ServiceHeartbeat(
            service=self.service,
            instance=self.instance,
            started_at=self.started_at,
            at=self._clock(),
            interval_s=self.interval_s,
            version=self.version[:64],
            health=health,
            reasons=[r[:300] for r in reasons[:10]],
        )

    async def beat(self) -> bool:
        """Write one heartbeat with the instance's health now; False when it could not be written."""
        health, reasons = self._verdict()
        return await self._write(self.record(health, reasons))

    async def run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.interval_s)

    async def farewell(self) -> None:
        """The last write of a clean stop: the console shows the instance stopped, not lost."""
        try:
            await asyncio.wait_for(self._write(self.record("stopped", [])), FAREWELL_TIMEOUT_S)
        except TimeoutError:
            log.warning("heartbeat of %s: no farewell written within %ss", self.service, FAREWELL_TIMEOUT_S)

    async def _write(self, heartbeat: ServiceHeartbeat) -> bool:
        try:
            kv = await self._bucket.open()
            await kv.put(heartbeat.key(), heartbeat.model_dump_json().encode())
        except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
            HEARTBEATS.labels("failed").inc()
            log.warning("heartbeat of %s not written: %s", self.service, type(exc).__name__)
            return False
        HEARTBEATS.labels("written").inc()
        return True


def verdict_of(probe: Probe) -> Verdict:
    """The instance's health as its own probes judge it: not live, else not ready, else ok."""

    def judge() -> tuple[Health, list[str]]:
        live, body = probe.liveness()
        if not live:
            return "not_live", [str(r) for r in _reasons(body)]
        ready, body = probe.readiness()
        return ("ok", []) if ready else ("not_ready", [str(r) for r in _reasons(body)])

    return judge


def _reasons(body: dict[str, object]) -> list[object]:
    found = body.get("reasons")
    return list(found) if isinstance(found, list) else []


def heartbeat_bucket(buckets: Buckets) -> KeyValueBucket:
    """The bucket every service writes its instances' heartbeats to, entries kept a day."""
    return buckets.key_value(HEARTBEATS_BUCKET, ttl_s=HEARTBEATS_KEPT_S)
