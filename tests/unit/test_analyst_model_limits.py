"""Tenants' model endpoints are other people's servers: their answers are capped in bytes and in
time, their clients are kept in a bounded cache, and a tenant runs a bounded number of tasks."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from contracts.task import TaskDispatched, TaskDispatchedPayload
from quarry_runtime.errors import NotReady
from quarry_runtime.tenant_models import ModelEndpoint
from quarry_runtime.worker import TaskError
from quarry_security.egress import GuardedTransport
from services.analyst.application.tasks import execute_for_tenant
from services.analyst.bootstrap import AnalystSettings
from services.analyst.llm import ChatClient, LlmError, RetryPolicy
from services.analyst.models import EndpointPolicy, Models
from tests.fakes.bombs import Chunked, packed_zeros, peak_memory

MESSAGES = [{"role": "user", "content": "Say hi"}]
CAP = 64 * 1024


class Endless(httpx.AsyncByteStream):
    """A body that never ends; counts how much of it was read."""

    def __init__(self, chunk: bytes = b"x" * 4096, every_s: float = 0.0) -> None:
        self.chunk, self.every_s, self.sent = chunk, every_s, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self.every_s:
                await asyncio.sleep(self.every_s)
            self.sent += len(self.chunk)
            yield self.chunk


def client(handler: httpx.MockTransport, **kwargs: float) -> ChatClient:
    return ChatClient(
        "http://llm.test/v1",
        model="m",
        transport=handler,
        retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01),
        max_response_bytes=CAP,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_an_endless_answer_is_refused_once_past_the_cap_not_read_whole() -> None:
    body = Endless()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))
    with pytest.raises(LlmError, match=f"more than {CAP} bytes"):
        await client(transport).complete(MESSAGES)
    assert body.sent <= CAP + len(body.chunk)


async def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    body = Endless()
    headers = {"content-length": str(10 * CAP)}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=body))
    with pytest.raises(LlmError, match=f"more than {CAP}"):
        await client(transport).complete(MESSAGES)
    assert body.sent == 0


async def test_a_compressed_answer_is_capped_after_unpacking() -> None:
    bomb = gzip.compress(b"{" + b" " * (50 * CAP) + b"}")
    assert len(bomb) < CAP
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=bomb))
    with pytest.raises(LlmError, match="more than"):
        await client(transport).complete(MESSAGES)


@pytest.mark.parametrize(("encoding", "layers"), [("gzip", 1), ("gzip, gzip", 2)])
async def test_a_compression_bomb_is_never_unpacked_past_the_cap_in_memory(encoding: str, layers: int) -> None:
    # One 64 KiB piece of gzip unpacks to about 64 MiB, and a second layer multiplies that again:
    # the cap must hold while unpacking, not only between pieces.
    bomb = packed_zeros(128 << 20, layers)
    headers = {"content-encoding": encoding, "content-type": "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=Chunked(bomb)))
    with peak_memory() as peak, pytest.raises(LlmError, match=r"more than|encoding"):
        await client(transport).complete(MESSAGES)
    assert peak.bytes < 16 << 20, f"{peak.bytes} bytes held at once"


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate), ("", bytes)],
    ids=["gzip", "deflate", "raw deflate", "identity"],
)
async def test_a_streamed_answer_in_one_coding_still_reads(encoding: str, pack: Callable[[bytes], bytes]) -> None:
    answer = {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    body = Chunked(pack(json.dumps(answer).encode()), size=7)
    headers = {"content-encoding": encoding, "content-type": "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=body))
    assert (await client(transport).complete(MESSAGES)).text == "hi"


async def test_an_answer_in_a_coding_we_do_not_unpack_is_refused() -> None:
    headers = {"content-encoding": "br", "content-type": "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, stream=Chunked(b"\x0b\x02")))
    with pytest.raises(LlmError, match="'br' is not read"):
        await client(transport).complete(MESSAGES)


async def test_a_small_compressed_answer_still_reads() -> None:
    answer = {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    packed = gzip.compress(json.dumps(answer).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=packed))
    assert (await client(transport).complete(MESSAGES)).text == "hi"


async def test_a_trickling_answer_ends_at_the_deadline_not_the_read_timeout() -> None:
    # A byte every 50 ms never trips a 5 s read timeout; the whole call still ends at its deadline.
    body = Endless(chunk=b" ", every_s=0.05)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))
    started = time.monotonic()
    with pytest.raises(LlmError, match=r"no complete answer within 0\.5s"):
        await client(transport, timeout_s=5.0, deadline_s=0.5).complete(MESSAGES)
    assert time.monotonic() - started < 2.0


# --- the cache of clients and the per-tenant limit ------------------------------------------------------


class Endpoints:
    """Stands in for the bucket: each tenant's endpoint by id."""

    def __init__(self) -> None:
        self.by_tenant: dict[str, ModelEndpoint] = {}

    async def endpoint(self, tenant_id: str) -> ModelEndpoint | None:
        return self.by_tenant.get(tenant_id)


def models(endpoints: Endpoints, made: list[ChatClient], **limits: int) -> Models:
    def make(endpoint: ModelEndpoint) -> ChatClient:
        made.append(ChatClient(endpoint.base_url, model=endpoint.model))
        return made[-1]

    # Literal public addresses: the address check needs no resolver.
    return Models(None, endpoints, make, policy=EndpointPolicy(**limits))  # type: ignore[arg-type]


async def test_the_client_cache_is_bounded_and_closes_what_it_drops() -> None:
    endpoints = Endpoints()
    for n in range(3):
        endpoints.by_tenant[f"t{n}"] = ModelEndpoint(f"http://93.184.216.{n + 1}/v1", "m")
    made: list[ChatClient] = []
    chosen = models(endpoints, made, max_clients=2)
    for tenant in ("t0", "t1", "t0", "t2"):  # t1 is the least recently used when t2 arrives
        async with chosen.use(tenant):
            pass
    assert chosen.cached == 2 and len(made) == 3
    assert [c.closed for c in made] == [False, True, False]
    await chosen.aclose()
    assert all(c.closed for c in made)


async def test_a_dropped_client_still_in_use_is_closed_by_its_last_user() -> None:
    endpoints = Endpoints()
    endpoints.by_tenant = {
        "a": ModelEndpoint("http://93.184.216.1/v1", "m"),
        "b": ModelEndpoint("http://93.184.216.2/v1", "m"),
    }
    made: list[ChatClient] = []
    chosen = models(endpoints, made, max_clients=1)
    async with chosen.use("a") as using_a:
        assert using_a is not None
        async with chosen.use("b"):
            pass
        assert not using_a.client.closed  # dropped from the cache, but a task still calls it
    assert using_a.client.closed


async def test_a_tenant_past_its_limit_goes_back_to_the_queue_others_do_not() -> None:
    endpoints = Endpoints()
    endpoints.by_tenant = {
        "slow": ModelEndpoint("http://93.184.216.1/v1", "m"),
        "other": ModelEndpoint("http://93.184.216.2/v1", "m"),
    }
    chosen = models(endpoints, [], per_tenant=2)
    async with chosen.use("slow"), chosen.use("slow"):
        with pytest.raises(NotReady, match="already runs 2 model tasks"):
            async with chosen.use("slow"):
                pass
        async with chosen.use("other") as other:
            assert other is not None and other.tenants_own
    async with chosen.use("slow"):  # the slots are given back
        pass


def test_the_limits_are_settings_and_validated() -> None:
    s = AnalystSettings(
        llm_deadline_s=30, llm_max_response_bytes=65536, workers=4, tenant_model_concurrency=1, tenant_model_clients=10
    )
    assert (s.llm_deadline_s, s.llm_max_response_bytes, s.workers) == (30, 65536, 4)
    assert (s.tenant_model_concurrency, s.tenant_model_clients) == (1, 10)
    for bad in ({"workers": 0}, {"tenant_model_concurrency": 0}, {"llm_max_response_bytes": 10}, {"llm_deadline_s": 0}):
        with pytest.raises(ValueError):
            AnalystSettings(**bad)  # type: ignore[arg-type]


async def test_a_model_task_stops_at_its_timeout_and_gives_the_tenant_slot_back() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    endpoints = Endpoints()
    endpoints.by_tenant = {"slow": ModelEndpoint("http://93.184.216.1/v1", "m")}

    def make(endpoint: ModelEndpoint) -> ChatClient:
        return ChatClient(endpoint.base_url, model=endpoint.model, transport=httpx.MockTransport(hang))

    chosen = Models(None, endpoints, make, policy=EndpointPolicy(per_tenant=1))  # type: ignore[arg-type]
    payload = TaskDispatchedPayload(
        task_id="t1", kind="plan", role="analyst", timeout_s=0.3, input={"question": "How do tides work?", "depth": 1}
    )
    task = TaskDispatched.create(payload, tenant_id="slow", run_id="r1")
    started = time.monotonic()
    with pytest.raises(TaskError, match=r"no result within the task's 0\.3s") as stopped:
        await execute_for_tenant(task, chosen)
    assert stopped.value.retryable and time.monotonic() - started < 2.0
    async with chosen.use("slow") as again:  # the slot is free again
        assert again is not None
    await chosen.aclose()


async def test_a_tenant_endpoint_that_rebinds_inward_after_the_check_is_never_called() -> None:
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers, ["127.0.0.1"])

    called: list[httpx.Request] = []

    def model(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(200, json={"choices": [{"message": {"content": "{}"}}]})

    def make(endpoint: ModelEndpoint) -> ChatClient:
        guarded = GuardedTransport(httpx.MockTransport(model), resolver=rebinding)
        return ChatClient(endpoint.base_url, model=endpoint.model, transport=guarded)

    endpoints = Endpoints()
    endpoints.by_tenant = {"t": ModelEndpoint("https://models.rebind.example/v1", "m")}
    chosen = Models(None, endpoints, make, policy=EndpointPolicy(resolver=rebinding))  # type: ignore[arg-type]
    payload = TaskDispatchedPayload(
        task_id="t2", kind="plan", role="analyst", input={"question": "How do tides work?", "depth": 1}
    )
    with pytest.raises(TaskError, match="not on the public internet") as refused:
        await execute_for_tenant(TaskDispatched.create(payload, tenant_id="t", run_id="r2"), chosen)
    assert refused.value.retryable is False
    assert asked == ["models.rebind.example"] * 2 and called == []
    await chosen.aclose()


async def test_a_shadow_task_never_calls_the_tenants_own_endpoint_nor_takes_its_slot() -> None:
    """A rollout's shadow runs for the platform: the tenant's provider must not bill them for it."""
    called: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(500)

    endpoints = Endpoints()
    endpoints.by_tenant = {"own": ModelEndpoint("http://93.184.216.1/v1", "m")}

    def make(endpoint: ModelEndpoint) -> ChatClient:
        return ChatClient(endpoint.base_url, model=endpoint.model, transport=httpx.MockTransport(record))

    # No platform model here: the shadow plans offline, as the platform's settings say.
    chosen = Models(None, endpoints, make, policy=EndpointPolicy(per_tenant=1))  # type: ignore[arg-type]
    question = {"question": "How do tides work?", "depth": 1}
    payload = TaskDispatchedPayload(task_id="t1", kind="plan", role="analyst", input=question, shadow=True)
    shadow = TaskDispatched.create(payload, tenant_id="own", run_id="r1")
    async with chosen.use("own"):  # the tenant's one slot is busy with its own task
        result = await execute_for_tenant(shadow, chosen)
    assert result.output["sub_questions"] and called == []
    await chosen.aclose()
