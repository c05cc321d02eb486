"""The gateway's liveness fails when a read-model consumer is wedged; readiness is separate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from fastapi.testclient import TestClient

from quarry_runtime.health import ConsumerProgress
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings


def test_a_wedged_read_model_consumer_fails_liveness_but_not_readiness(tmp_path: Path) -> None:
    now = [100.0]
    progress = ConsumerProgress(lambda: now[0])
    bus = SimpleNamespace(broker=SimpleNamespace(connection=SimpleNamespace(is_connected=True)), progress=progress)
    settings = GatewaySettings(data_dir=tmp_path, ack_wait_s=30, health_stall_ack_waits=20)
    db = SqlDatabase(settings, "gateway")
    parts = Components(settings, GatewayStore(db), cast(Any, bus), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))  # no lifespan: the fake bus is not started
    try:
        assert http.get("/healthz").status_code == 200
        progress.delivered("gateway-runs")  # a handler that never returns
        now[0] += 599
        assert http.get("/healthz").status_code == 200
        now[0] += 2
        live = http.get("/healthz")
        assert live.status_code == 503
        assert live.json()["reasons"] == ["consumer gateway-runs: messages waiting without an ack for 601s"]
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"bus": True, "store": True}
        bus.broker.connection.is_connected = False
        assert http.get("/readyz").json()["reasons"] == ["bus: failed"]
    finally:
        db.close()
