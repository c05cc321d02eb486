"""The gateway's identity routes in process on SQLite with counters in memory, made anew with
the settings a test gives, and its users' calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

PASSWORD = "long-enough-1"
Gateway = Callable[..., TestClient]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A factory: the gateway app with the given settings, sharing nothing between calls but the directory."""
    opened: list[SqlDatabase] = []

    def make(**settings: Any) -> TestClient:
        config = GatewaySettings(data_dir=tmp_path / str(len(opened)), **settings)
        db = SqlDatabase(config, "gateway")
        opened.append(db)
        parts = Components(config, GatewayStore(db), cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
        return TestClient(create_app(parts))

    yield make
    for db in opened:
        db.close()


def signup(http: TestClient, name: str, password: str = PASSWORD) -> Any:
    return http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": password, "tenant_name": name}
    )


def login(http: TestClient, email: str, password: str) -> Any:
    return http.post("/v1/auth/login", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
