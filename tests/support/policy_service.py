"""The policy service run in the test's process on a real JetStream, and the tenants that
call it through the gateway's API."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from contracts import subjects
from services.policy.bootstrap import PolicyParts, PolicySettings, assemble
from tests.support.services import in_process


@contextlib.asynccontextmanager
async def policy_service(nats_url: str, data_dir: Path) -> AsyncIterator[PolicyParts]:
    """The service as `run` drives it (bus, consumers, background responders), minus signal handlers."""
    settings = PolicySettings(data_dir=data_dir).model_copy(update={"nats_url": nats_url})
    parts = assemble(settings)
    async with in_process(parts.service, answers=subjects.POLICY_VERSIONS):
        yield parts


class Api:
    def __init__(self, http: httpx.AsyncClient, token: str, user_id: str, tenant_id: str) -> None:
        self.http, self.user_id, self.tenant_id = http, user_id, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.headers, **kw)

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(path, headers=self.headers, json=body)


async def signup(http: httpx.AsyncClient) -> Api:
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": "long-enough-1", "tenant_name": name}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Api(http, body["access_token"], body["user_id"], body["tenant_id"])


async def member_of(owner: Api) -> Api:
    name = f"m{uuid.uuid4().hex[:8]}"
    r = await owner.post("/v1/members", {"email": f"{name}@example.com", "role": "member"})
    assert r.status_code == 201, r.text
    accepted = await owner.http.post(
        "/v1/auth/accept", json={"invite_token": r.json()["invite_token"], "password": "long-enough-2"}
    )
    assert accepted.status_code == 200, accepted.text
    return Api(owner.http, accepted.json()["access_token"], r.json()["user_id"], owner.tenant_id)
