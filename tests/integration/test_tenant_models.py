"""Tenants' own model endpoints over a real JetStream: the gateway's API stores them (key sealed,
never shown), and the analyst's lane plans each tenant's task with the endpoint its tenant chose,
or with the service default, against local OpenAI-compatible servers that count their calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from contracts import subjects
from contracts.envelope import Event
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskFailed, TaskSucceeded
from contracts.usage import UsageRecorded
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.tenant_models import BUCKET, ModelEndpoint, TenantModels, kv_key
from quarry_runtime.worker import TaskError
from quarry_security.egress import BlockedAddress, GuardedTransport
from services.analyst.bootstrap import AnalystSettings, build
from services.analyst.llm import ChatClient, LlmError
from services.analyst.models import Models
from services.gateway.settings import GatewaySettings
from tests.fakes.llm import API_KEY, FakeLlm, serve
from tests.support.polling import eventually
from tests.support.services import in_process

pytestmark = pytest.mark.infra

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
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name}
    )
    assert r.status_code == 201, r.text
    return Caller(http, r.json()["access_token"], r.json()["tenant_id"])


@pytest.mark.parametrize(
    "body",
    [
        {"base_url": "ftp://models.example/v1", "model": "m"},
        {"base_url": "models.example/v1", "model": "m"},
        {"base_url": "https://user:pw@models.example/v1", "model": "m"},
        {"base_url": "https://models.example/v1?key=x", "model": "m"},
        {"base_url": "https://models.example:99999/v1", "model": "m"},
        {"base_url": "https://models.example/v1", "model": "  "},
        {"base_url": "https://models.example/v1"},
        {"base_url": "https://models.example/v1", "model": "m", "api_key": "has a space"},
        {"base_url": "https://models.example/v1", "model": "m", "api_key": "line\nbreak"},
    ],
)
async def test_an_unusable_setting_is_a_422_and_changes_nothing(gateway: httpx.AsyncClient, body: Any) -> None:
    owner = await signup(gateway)
    r = await owner.call("PUT", "/v1/tenant/model", body)
    assert r.status_code == 422, r.text
    assert (await owner.call("GET", "/v1/tenant/model")).json()["configured"] is False


async def test_admins_set_it_members_may_not_the_key_is_never_shown_and_tenants_are_apart(
    nats_url: str, gateway: httpx.AsyncClient
) -> None:
    owner = await signup(gateway)
    admin, member, viewer = [await owner.invite(role) for role in ("admin", "member", "viewer")]
    body = {"base_url": "https://models.example/v1/", "model": "llama-3.1-70b", "api_key": KEY}
    for who in (member, viewer):
        for method, payload in (("PUT", body), ("GET", None), ("DELETE", None)):
            r = await who.call(method, "/v1/tenant/model", payload)
            assert r.status_code == 403, (method, r.text)

    r = await admin.call("PUT", "/v1/tenant/model", body)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["configured"], seen["base_url"], seen["model"]) == (True, "https://models.example/v1", "llama-3.1-70b")
    assert (seen["api_key_set"], seen["api_key_last4"]) == (True, "WXYZ")
    got = await owner.call("GET", "/v1/tenant/model")
    assert got.status_code == 200 and got.json() == seen
    assert KEY not in r.text and KEY not in got.text and KEY[:-4] not in got.text

    # At rest: the bucket holds the key sealed, not as text.
    nc = await nats.connect(nats_url)
    try:
        entry = await (await nc.jetstream().key_value(BUCKET)).get(kv_key(owner.tenant_id))
        assert entry.value is not None and KEY.encode() not in entry.value and KEY[:12].encode() not in entry.value
        assert b"api_key_sealed" in entry.value
    finally:
        await nc.close()

    # Another tenant sees none of it, and its own setting leaves the first one's alone.
    other = await signup(gateway)
    assert (await other.call("GET", "/v1/tenant/model")).json()["configured"] is False
    assert (await other.call("DELETE", "/v1/tenant/model")).status_code == 204
    mine = {"base_url": "http://127.0.0.1:9/v1", "model": "other-model"}
    assert (await other.call("PUT", "/v1/tenant/model", mine)).json()["api_key_set"] is False
    assert (await owner.call("GET", "/v1/tenant/model")).json() == seen

    # A PUT replaces the whole setting: a new URL without a key does not inherit the old key.
    r = await owner.call("PUT", "/v1/tenant/model", {"base_url": "https://elsewhere.example/v1", "model": "m"})
    assert (r.json()["api_key_set"], r.json()["api_key_last4"]) == (False, None)
    assert (await admin.call("DELETE", "/v1/tenant/model")).status_code == 204
    assert (await owner.call("GET", "/v1/tenant/model")).json()["configured"] is False
    assert (await other.call("GET", "/v1/tenant/model")).json()["model"] == "other-model"


@pytest.fixture(scope="module")
def llms() -> Iterator[tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]]:
    """The platform's model and a tenant's own, two servers on their own ports."""
    platform, own = FakeLlm(latency_s=(0.0, 0.01)), FakeLlm(latency_s=(0.0, 0.01))
    with serve(platform) as platform_url, serve(own) as own_url:
        yield (platform, platform_url), (own, own_url)


@contextlib.asynccontextmanager
async def analyst(settings: AnalystSettings) -> AsyncIterator[None]:
    """The service as `run` drives it (bus, lane, background jobs), minus signal handlers."""
    async with in_process(build(settings)):
        yield


def analyst_settings(nats_url: str, tmp_path: Path, platform_url: str) -> AnalystSettings:
    """A live analyst whose platform model is the fake at `platform_url`."""
    return AnalystSettings(
        mode="live",
        llm_base_url=platform_url,
        llm_api_key=API_KEY,
        llm_model="platform-model",
        secrets_key=SECRETS_KEY,
        # The fake endpoints listen on loopback; a tenant's endpoint may not, unless the platform allows it.
        tenant_model_allow_private=True,
    ).model_copy(update={"nats_url": nats_url, "data_dir": tmp_path})


def plan_task(tenant: str, question: str) -> TaskDispatched:
    payload = TaskDispatchedPayload(
        task_id=str(uuid.uuid4()), kind="plan", role="analyst", input={"question": question, "depth": 1}
    )
    return TaskDispatched.create(payload, tenant_id=tenant, run_id=str(uuid.uuid4()))


async def test_each_tenant_is_planned_by_its_own_endpoint_or_the_default(
    nats_url: str, tmp_path: Path, llms: tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]
) -> None:
    (platform, platform_url), (own, own_url) = llms
    with_own, without, wrong_key = (f"t{uuid.uuid4().hex[:10]}" for _ in range(3))
    settings = analyst_settings(nats_url, tmp_path, platform_url)
    outcomes: dict[str, list[Event]] = {}

    async def observe(ev: Event) -> None:
        if ev.tenant_id in (with_own, without, wrong_key):
            outcomes.setdefault(ev.tenant_id, []).append(ev)

    name = f"test-observer-{uuid.uuid4().hex[:8]}"
    observer = Bus(nats_url, name)
    observer.subscribe(Subscription("task.v1.>", f"{name}-task", observe))
    observer.subscribe(Subscription("usage.v1.>", f"{name}-usage", observe))
    await observer.start()
    # What the gateway writes (same bucket, same secrets key): one tenant's own endpoint, one with a bad key.
    models = TenantModels(lambda: observer.broker.connection.jetstream(), SECRETS_KEY, replicas=1)
    await models.put(with_own, ModelEndpoint(own_url, "tenant-model", API_KEY), updated_by="u")
    await models.put(wrong_key, ModelEndpoint(own_url, "tenant-model", "sk-revoked"), updated_by="u")
    try:
        async with analyst(settings):
            questions = {t: f"How do {t} generators work?" for t in (with_own, without, wrong_key)}
            for tenant, question in questions.items():
                await observer.publish(plan_task(tenant, question), subject=subjects.task_lane("analyst"))

            def ended(tenant: str) -> bool:
                return any(isinstance(ev, TaskSucceeded | TaskFailed) for ev in outcomes.get(tenant, []))

            await eventually(lambda: all(ended(t) for t in questions), what="every plan task to end")
    finally:
        await observer.stop()

    # The right server answered each tenant, once.
    assert own.calls[questions[with_own]] == 1 and platform.calls[questions[with_own]] == 0
    assert platform.calls[questions[without]] == 1 and own.calls[questions[without]] == 0
    assert platform.calls[questions[wrong_key]] == 0  # never falls back to the platform's model

    def of(tenant: str, kind: type[Event]) -> list[Any]:
        return [ev for ev in outcomes[tenant] if isinstance(ev, kind)]

    (usage_own,) = of(with_own, UsageRecorded)
    (usage_default,) = of(without, UsageRecorded)
    assert (usage_own.payload.model, usage_default.payload.model) == ("tenant-model", "platform-model")
    assert usage_own.payload.tokens_in > 0 and usage_own.payload.tokens_out == 30
    assert len(of(with_own, TaskSucceeded)) == len(of(without, TaskSucceeded)) == 1

    (refused,) = of(wrong_key, TaskFailed)
    assert "tenant's model endpoint refused its API key (HTTP 401)" in refused.payload.reason
    assert refused.payload.retryable is False
    assert refused.payload.fault == "tenant"  # billing charges what the tenant's own endpoint wasted
    assert not of(wrong_key, UsageRecorded)


async def test_a_changed_setting_reaches_the_analyst_before_its_cache_expires(
    nats_url: str, llms: tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]
) -> None:
    (_, platform_url), (_, own_url) = llms
    tenant = f"t{uuid.uuid4().hex[:10]}"
    bus = Bus(nats_url, f"test-{uuid.uuid4().hex[:8]}")
    await bus.start()
    writer = TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1)
    reader = TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1, ttl_s=3600)
    watch = asyncio.create_task(reader.watch())
    try:
        assert await reader.endpoint(tenant) is None  # cached as "none" for an hour
        await writer.put(tenant, ModelEndpoint(own_url, "m1", KEY), updated_by="u")

        async def read() -> ModelEndpoint | None:
            return await reader.endpoint(tenant)

        deadline = time.monotonic() + 10
        while (found := await read()) is None:
            assert time.monotonic() < deadline, "the watch never dropped the cached entry"
            await asyncio.sleep(0.05)
        assert found == ModelEndpoint(own_url, "m1", KEY)
        await writer.put(tenant, ModelEndpoint(platform_url, "m2", None), updated_by="u")
        while (found := await read()) is not None and found.model == "m1":
            assert time.monotonic() < deadline, "the watch never saw the change"
            await asyncio.sleep(0.05)
        assert found == ModelEndpoint(platform_url, "m2", None)
        await writer.delete(tenant)
        while await read() is not None:
            assert time.monotonic() < deadline, "the watch never saw the delete"
            await asyncio.sleep(0.05)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await bus.stop()


async def test_a_tenant_endpoint_inside_our_network_is_refused(
    nats_url: str, llms: tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]
) -> None:
    (_, _), (own, own_url) = llms
    tenant = f"t{uuid.uuid4().hex[:10]}"
    bus = Bus(nats_url, f"test-{uuid.uuid4().hex[:8]}")
    await bus.start()
    tenants = TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1)
    models = Models(None, tenants, lambda e: ChatClient(e.base_url, model=e.model, api_key=e.api_key))
    try:
        await tenants.put(tenant, ModelEndpoint(own_url, "m", API_KEY), updated_by="u")
        with pytest.raises(TaskError, match="not on the public internet") as refused:
            await models.choose(tenant)
        assert refused.value.retryable is False
        assert refused.value.fault == "tenant"  # the tenant's setting: billing charges, not refunds
        # The transport refuses too, for a name that resolves inward only after the check.
        client = ChatClient(own_url, model="m", api_key=API_KEY, transport=GuardedTransport())
        with pytest.raises(LlmError) as blocked:
            await client.complete([{"role": "user", "content": "Question: anything?"}])
        assert isinstance(blocked.value.__cause__, BlockedAddress)
        await client.aclose()
        assert own.calls["anything?"] == 0
    finally:
        await models.aclose()
        await bus.stop()


@contextlib.asynccontextmanager
async def hanging_server() -> AsyncIterator[str]:
    """A model endpoint that accepts connections and never answers (until it is shut down)."""
    writers: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # until the client goes away

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_a_tenant_whose_endpoint_hangs_does_not_delay_another_tenants_task(
    nats_url: str, tmp_path: Path, llms: tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]
) -> None:
    (platform, platform_url), _ = llms
    stuck, other = f"t{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:10]}"
    settings = analyst_settings(nats_url, tmp_path, platform_url)
    ended: dict[str, float] = {}

    async def observe(ev: Event) -> None:
        if ev.tenant_id == other and isinstance(ev, TaskSucceeded | TaskFailed):
            ended.setdefault(type(ev).__name__, time.monotonic())

    name = f"test-observer-{uuid.uuid4().hex[:8]}"
    observer = Bus(nats_url, name)
    observer.subscribe(Subscription("task.v1.>", f"{name}-task", observe))
    await observer.start()
    try:
        async with hanging_server() as hanging_url:
            tenants = TenantModels(lambda: observer.broker.connection.jetstream(), SECRETS_KEY, replicas=1)
            await tenants.put(stuck, ModelEndpoint(hanging_url, "m", API_KEY), updated_by="u")
            async with analyst(settings):
                # More of the stuck tenant's tasks than the lane fetches at once, then another tenant's.
                for n in range(8):
                    await observer.publish(plan_task(stuck, f"Stuck {n}?"), subject=subjects.task_lane("analyst"))
                question = f"How do {other} turbines work?"
                sent = time.monotonic()
                await observer.publish(plan_task(other, question), subject=subjects.task_lane("analyst"))
                await eventually(lambda: bool(ended), timeout_s=20.0, what="the other tenant's task to end")
                assert "TaskSucceeded" in ended and ended["TaskSucceeded"] - sent < 10.0
                assert platform.calls[question] == 1
    finally:
        await observer.stop()


async def test_the_setting_cache_keeps_a_bounded_number_of_tenants(
    nats_url: str, llms: tuple[tuple[FakeLlm, str], tuple[FakeLlm, str]]
) -> None:
    (_, platform_url), _ = llms
    bus = Bus(nats_url, f"test-{uuid.uuid4().hex[:8]}")
    await bus.start()
    try:
        reader = TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1, max_cached=2)
        tenants = [f"t{uuid.uuid4().hex[:10]}" for _ in range(5)]
        await reader.put(tenants[0], ModelEndpoint(platform_url, "m", None), updated_by="u")
        for tenant in tenants:
            await reader.endpoint(tenant)
        assert reader.cached == 2
        # The first tenant's entry was dropped, not lost: it is read again from the bucket.
        assert await reader.endpoint(tenants[0]) == ModelEndpoint(platform_url, "m", None)
    finally:
        await bus.stop()
