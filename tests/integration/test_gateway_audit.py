"""The audit log over a real JetStream: a tenant's model endpoint set and removed is recorded, never its key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.infra
KEY = "sk-tenant-0123456789-abcdWXYZ"


@pytest.fixture
async def gateway(nats_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = build_gateway(GatewaySettings(data_dir=tmp_path / "gateway", nats_url=nats_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=15) as http:
            yield http


async def test_the_model_endpoint_set_and_removed_is_audited_without_its_key(gateway: httpx.AsyncClient) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await gateway.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": "long-enough-1", "tenant_name": name}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    body = {"base_url": "https://models.example/v1", "model": "llama-3.1-70b", "api_key": KEY}
    assert (await gateway.put("/v1/tenant/model", json=body, headers=headers)).status_code == 200
    assert (await gateway.delete("/v1/tenant/model", headers=headers)).status_code == 204

    log = await gateway.get("/v1/audit", params={"kind": "model"}, headers=headers)

    assert log.status_code == 200
    entries = log.json()["entries"]
    assert [e["kind"] for e in entries] == ["model.set", "model.removed"]
    assert entries[0]["detail"] == {"base_url": "https://models.example/v1", "model": "llama-3.1-70b"}
    assert KEY not in log.text and KEY[-8:] not in log.text
