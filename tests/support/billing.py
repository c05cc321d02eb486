"""A tenant's owner using billing through the gateway's HTTP API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.gateway import new_tenant


class Owner:
    """The signed-in owner of a new tenant."""

    def __init__(self, http: httpx.AsyncClient, token: str, tenant_id: str) -> None:
        self.http, self.tenant_id = http, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.headers, **kw)

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = self.headers | ({"Idempotency-Key": key} if key else {})
        return await self.http.post(path, headers=headers, json=body)

    async def balance(self) -> int:
        r = await self.get("/v1/billing/summary")
        assert r.status_code == 200, r.text
        return int(r.json()["balance"])

    async def has_balance(self, credits: int) -> bool:
        """Whether `credits` are left with nothing held."""
        r = await self.get("/v1/billing/summary")
        return r.status_code == 200 and r.json()["balance"] == credits and r.json()["reserved"] == 0

    async def completed(self, run_id: str | None) -> bool:
        r = await self.get(f"/v1/runs/{run_id}")
        return r.status_code == 200 and r.json()["state"] == "completed"


async def signup(http: httpx.AsyncClient) -> Owner:
    return Owner(http, *await new_tenant(http))
