"""Composition root of the gateway."""

from __future__ import annotations

from fastapi import FastAPI
from nats.js import JetStreamContext

from contracts.document import UPLOADS_BUCKET
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.blobs import BlobStore
from quarry_runtime.bus import Bus
from quarry_runtime.store import SqlDatabase
from quarry_runtime.tenant_models import TenantModels
from quarry_security.ratelimit import shared_limiter
from services.gateway.adapters.ops_connection import OpsConnection
from services.gateway.api.deps import Components
from services.gateway.app import create_app
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
        )
    )
