"""Tenants' own model endpoints in the tests: a gateway that seals their keys, its signed-in
users, and a live analyst whose platform model is a local fake."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.task import TaskDispatched, TaskDispatchedPayload
from services.analyst.bootstrap import AnalystSettings, build
from services.gateway.settings import GatewaySettings
from tests.fakes.llm import API_KEY, FakeLlm, serve
from tests.support.gateway import new_tenant
from tests.support.services import in_process

SECRETS_KEY = "a-secrets-key-for-the-integration-tests!"
PASSWORD = "long-enough-1"
KEY = "sk-tenant-0123456789-abcdWXYZ"


@pytest.fixture
def gateway_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    return gateway_settings.model_copy(update={"secrets_key": SECRETS_KEY})


class Caller:
    def __init__(self, http: httpx.AsyncClient, token: str, tenant_id: str) -> None:
        self.http, self.tenant_id = http, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(method, path, headers=self.headers, json=body)

    async def invite(self, role: str) -> Caller:
        r = await self.call(
            "POST", "/v1/members", {"email": f"{role}-{uuid.uuid4().hex[:8]}@example.com", "role": role}
        )
        assert r.status_code == 201, r.text
        accepted = await self.http.post(
            "/v1/auth/accept", json={"invite_token": r.json()["invite_token"], "password": PASSWORD}
        )
        assert accepted.status_code == 200, accepted.text
        return Caller(self.http, accepted.json()["access_token"], self.tenant_id)


async def signup(http: httpx.AsyncClient) -> Caller:
    return Caller(http, *await new_tenant(http))


# The platform's model server and a tenant's own, each with its URL.
Llms = tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]


@pytest.fixture(scope="module")
def llms() -> Iterator[Llms]:
    """The platform's model and a tenant's own, two servers on their own ports."""
    platform, own = FakeLlm(latency_s=(0.0, 0.01)), FakeLlm(latency_s=(0.0, 0.01))
    with serve(platform) as platform_url, serve(own) as own_url:
        yield (platform, platform_url), (own, own_url)


@contextlib.asynccontextmanager
async def analyst(settings: AnalystSettings) -> AsyncIterator[None]:
    """The service as `run` drives it (bus, lane, background jobs), minus signal handlers."""
    async with in_process(build(settings)):
        yield


def analyst_settings(nats_url: str, tmp_path: Path, platform_url: str, **settings: Any) -> AnalystSettings:
    """A live analyst whose platform model is the fake at `platform_url`; `settings` add to it."""
    return AnalystSettings(
        mode="live",
        llm_base_url=platform_url,
        llm_api_key=API_KEY,
        llm_model="platform-model",
        secrets_key=SECRETS_KEY,
        # The fake endpoints listen on loopback; a tenant's endpoint may not, unless the platform allows it.
        tenant_model_allow_private=True,
        **settings,
    ).model_copy(update={"nats_url": nats_url, "data_dir": tmp_path})


def plan_task(tenant: str, question: str) -> TaskDispatched:
    payload = TaskDispatchedPayload(
        task_id=str(uuid.uuid4()), kind="plan", role="analyst", input={"question": question, "depth": 1}
    )
    return TaskDispatched.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))
