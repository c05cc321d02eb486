"""The analyst's lane plans each tenant's task with the endpoint its tenant chose, or with the
service default, against local OpenAI-compatible servers that count their calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contracts import subjects
from contracts.envelope import Event
from contracts.task import TaskFailed, TaskSucceeded
from contracts.usage import UsageRecorded
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.tenant_models import ModelEndpoint, TenantModels
from quarry_runtime.worker import TaskError
from quarry_security.egress import BlockedAddress, GuardedTransport
from services.analyst.llm import ChatClient, LlmError
from services.analyst.models import Models
from tests.fakes.llm import API_KEY
from tests.support.polling import eventually
from tests.support.tenant_models import KEY, SECRETS_KEY, Llms, analyst, analyst_settings, llms, plan_task

pytestmark = pytest.mark.infra
__all__ = ["llms"]  # the fixture


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    started = Bus(nats_url, f"test-{uuid.uuid4().hex[:8]}")
    await started.start()
    yield started
    await started.stop()


def tenant_models(bus: Bus, **options: Any) -> TenantModels:
    """The tenant model settings in the bus's key-value bucket, as the gateway and the analyst read them."""
    return TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1, **options)


async def test_each_tenant_is_planned_by_its_own_endpoint_or_the_default(
    nats_url: str, tmp_path: Path, llms: Llms
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
    models = tenant_models(observer)
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


async def test_a_changed_setting_reaches_the_analyst_before_its_cache_expires(bus: Bus, llms: Llms) -> None:
    (_, platform_url), (_, own_url) = llms
    tenant = f"t{uuid.uuid4().hex[:10]}"
    writer, reader = tenant_models(bus), tenant_models(bus, ttl_s=3600)
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


async def test_a_tenant_endpoint_inside_our_network_is_refused(bus: Bus, llms: Llms) -> None:
    (_, _), (own, own_url) = llms
    tenant = f"t{uuid.uuid4().hex[:10]}"
    tenants = tenant_models(bus)
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
    nats_url: str, tmp_path: Path, llms: Llms
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
            tenants = tenant_models(observer)
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


async def test_the_setting_cache_keeps_a_bounded_number_of_tenants(nats_url: str, llms: Llms) -> None:
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
