"""The audit log over a real JetStream: a tenant's model endpoint set and removed is recorded, never its key."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.infra
KEY = "sk-tenant-0123456789-abcdWXYZ"


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
