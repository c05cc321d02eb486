"""Composition root of the gateway."""

from __future__ import annotations

from fastapi import FastAPI
from nats.js import JetStreamContext

from contracts.document import UPLOADS_BUCKET
from contracts.ops import Health
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.blobs import BlobStore
from quarry_runtime.buckets import Buckets
from quarry_runtime.bus import Bus
from quarry_runtime.heartbeat import Heartbeat, heartbeat_bucket
from quarry_runtime.spans import QUARRY_VERSION
from quarry_runtime.store import SqlDatabase
from quarry_runtime.tenant_models import TenantModels
from quarry_security.ratelimit import shared_limiter
from services.gateway.adapters.heartbeats import Heartbeats
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.adapters.lag_samples import LagSamples
from services.gateway.adapters.ops_connection import OpsConnection
from services.gateway.api.deps import Components
from services.gateway.api.ops_access import READABLE_STREAMS
from services.gateway.app import create_app
from services.gateway.application.lag_sampler import LagSampler
from services.gateway.application.ops_health import HealthParts
from services.gateway.readmodels.catchup import CatchUp
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.positions import Positions
from services.gateway.readmodels.projection import LiveViews, Projected, RunFeed, subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

NAME = "gateway"
RATE_LIMIT_TTL_S = 86_400  # the longest window of the auth limits (sign-ups and failures a day)


def build(settings: GatewaySettings) -> FastAPI:
    db = SqlDatabase(settings, NAME)
    store = GatewayStore(db)
    monitors = MonitorStore(db)
    bus = Bus.from_settings(settings, NAME)

    def jetstream() -> JetStreamContext:
        return bus.broker.connection.jetstream()

    feed = RunFeed()
    projected = Projected()
    catchup = CatchUp(
        store,
        monitors,
        Positions(db),
        feed,
        jetstream,
        interval_s=settings.catchup_interval_s,
        check_s=settings.catchup_check_s,
    )
    for sub in subscriptions(LiveViews(store, monitors, feed, watch=catchup, projected=projected)):
        bus.subscribe(sub)
    artifacts = ArtifactStore(settings.data_dir / "artifacts")
    blobs = BlobStore(
        jetstream, UPLOADS_BUCKET, replicas=settings.stream_replicas, max_bytes=settings.object_store_max_bytes
    )
    models = TenantModels(
        jetstream, settings.secrets_key, replicas=settings.stream_replicas, max_bytes=settings.kv_max_bytes
    )
    limiter = shared_limiter(
        jetstream,
        NAME,
        replicas=settings.stream_replicas,
        max_bytes=settings.kv_max_bytes,
        longest_window_s=RATE_LIMIT_TTL_S,
    )
    ops_credentials = settings.ops_nats_credentials()
    ops_bus = (
        None
        if ops_credentials is None
        else OpsConnection(settings.nats_url, ops_credentials, settings.nats_tls_ca_file)
    )
    ops_health = health_parts(settings, bus, ops_bus)
    return create_app(
        Components(
            settings,
            store,
            bus,
            feed,
            artifacts,
            monitors,
            blobs,
            models,
            limiter=limiter,
            catchup=catchup,
            projected=projected,
            ops_bus=ops_bus,
            ops_health=ops_health,
        )
    )


def health_parts(settings: GatewaySettings, bus: Bus, ops_bus: OpsConnection | None) -> HealthParts:
    """The consumers' lag samples and the services' heartbeats: written through the gateway's own
    connection, the consumers read as the operators' user (as the consumers view reads them)."""

    def jetstream() -> JetStreamContext:
        return bus.broker.connection.jetstream()

    async def consumers_state() -> JetStreamState:
        client = await ops_bus.client() if ops_bus is not None else bus.broker.connection
        return JetStreamState(client, READABLE_STREAMS)

    samples = LagSamples(jetstream, lambda: bus.broker.connection, replicas=settings.stream_replicas)
    heartbeats = heartbeat_bucket(Buckets.from_settings(jetstream, settings))

    def verdict() -> tuple[Health, list[str]]:
        return ("ok", []) if bus.broker.connection.is_connected else ("not_ready", ["bus: not connected"])

    own = (
        Heartbeat(NAME, heartbeats, interval_s=settings.heartbeat_interval_s, version=QUARRY_VERSION, verdict=verdict)
        if settings.heartbeat_interval_s
        else None
    )
    return HealthParts(
        samples, Heartbeats(heartbeats), LagSampler(consumers_state, samples, settings.lag_sample_interval_s), own
    )
