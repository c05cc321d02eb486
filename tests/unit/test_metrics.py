"""Metrics keep their labels bounded: route templates, durable names, closed sets of outcomes,
tools and models; never a run, tenant or event id, whatever a request or message carries."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from faststream.nats import TestNatsBroker
from nats.aio.msg import Msg
from prometheus_client import REGISTRY, generate_latest

from contracts import subjects
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from contracts.tool import ToolDecidedPayload
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.delivery import behind, jetstream_metadata
from quarry_runtime.httpmetrics import HttpMetrics
from quarry_runtime.metrics import OTHER, Bounded, counter, looks_like_an_id
from services.analyst.meters import ModelMeter
from services.policy.meters import DecisionMeter


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_value_outside_the_set_is_counted_as_other() -> None:
    tools = Bounded(["web_search", "fetch_url"])
    assert tools("web_search") == "web_search"
    assert tools("rm_rf") == OTHER
    assert tools(None) == OTHER


def test_an_id_is_never_a_label_value_even_when_configured_as_one() -> None:
    run_id = str(uuid.uuid4())
    assert looks_like_an_id(run_id) and looks_like_an_id(new_id()) and looks_like_an_id("ab" * 16)
    assert Bounded([run_id, "gpt-4o-mini"])(run_id) == OTHER
    assert not looks_like_an_id("gpt-4o-mini")


def test_a_metric_outside_quarry_s_names_is_refused() -> None:
    with pytest.raises(ValueError, match="quarry_"):
        counter("requests", "no prefix")


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.QUARRY.billing-usage.1.42.7.1700000000000000000.3",
        "$JS.ACK.hub.ACCHASH.QUARRY.billing-usage.5.42.9.1700000000000000000.3.r4nd0m",
    ],
)
def test_a_message_s_age_and_backlog_are_read_from_its_ack_subject_as_the_metadata_has_them(reply: str) -> None:
    raw = Msg(None, subject="run.v1.requested", reply=reply, data=b"{}")  # type: ignore[arg-type]
    meta = jetstream_metadata(raw)
    assert meta is not None
    now_ns = 1_700_000_002_500_000_000
    position = behind(raw, now_ns)
    assert position is not None
    assert position[0] == pytest.approx(now_ns / 1e9 - meta.timestamp.timestamp()) == pytest.approx(2.5)
    assert position[1] == meta.num_pending == 3


def test_a_message_without_a_stream_has_no_age() -> None:
    raw = Msg(None, subject="run.v1.requested", reply="_INBOX.x", data=b"{}")  # type: ignore[arg-type]
    assert behind(raw, 0) is None


async def test_requests_are_counted_by_route_template_never_by_the_path_with_its_ids() -> None:
    app = FastAPI()

    @app.get("/v1/runs/{run_id}")
    async def get_run(run_id: str) -> dict[str, str]:
        return {"run_id": run_id}

    @app.post("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("broken")

    metered = HttpMetrics(app)
    run_id = str(uuid.uuid4())
    route = {"method": "GET", "route": "/v1/runs/{run_id}", "status": "200"}
    before = sample("quarry_http_requests_total", **route)
    unmatched = sample("quarry_http_requests_total", method="GET", route="unmatched", status="404")
    failed = sample("quarry_http_requests_total", method="POST", route="/v1/boom", status="500")
    transport = httpx.ASGITransport(app=metered, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(f"/v1/runs/{run_id}")).status_code == 200
        assert (await client.get(f"/v1/nothing/{run_id}")).status_code == 404
        assert (await client.post("/v1/boom")).status_code == 500
    assert sample("quarry_http_requests_total", **route) == before + 1
    assert sample("quarry_http_requests_total", method="GET", route="unmatched", status="404") == unmatched + 1
    assert sample("quarry_http_requests_total", method="POST", route="/v1/boom", status="500") == failed + 1
    assert sample("quarry_http_request_duration_seconds_count", method="GET", route="/v1/runs/{run_id}") >= 1
    assert run_id not in generate_latest().decode()


async def test_a_made_up_http_method_is_counted_as_other() -> None:
    app = FastAPI()
    before = sample("quarry_http_requests_total", method=OTHER, route="unmatched", status="404")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=HttpMetrics(app)), base_url="http://t") as client:
        await client.request("BREW", "/pot")
    assert sample("quarry_http_requests_total", method=OTHER, route="unmatched", status="404") == before + 1


def test_decisions_count_a_tool_outside_the_registry_as_other() -> None:
    meter = DecisionMeter(["web_search"])

    def decided(tool: str, decision: str) -> ToolDecidedPayload:
        return ToolDecidedPayload.model_validate(
            {
                "request_id": "r",
                "task_id": "t",
                "tool": tool,
                "decision": decision,
                "policy_version": "v1",
                "evaluation_ms": 1.0,
            }
        )

    name = "quarry_policy_decisions_total"
    allowed, other = sample(name, outcome="allow", tool="web_search"), sample(name, outcome="deny", tool=OTHER)
    meter(decided("web_search", "allow"))
    meter(decided(f"exfiltrate_{uuid.uuid4().hex}", "deny"))
    assert sample(name, outcome="allow", tool="web_search") == allowed + 1
    assert sample(name, outcome="deny", tool=OTHER) == other + 1


def test_a_tenant_s_own_model_is_counted_as_other() -> None:
    meter = ModelMeter(["house-model"])
    before_in = sample("quarry_model_tokens_total", model="house-model", direction="input")
    before_other = sample("quarry_model_tokens_total", model=OTHER, direction="output")
    meter.answered("house-model", 0.2, tokens_in=10, tokens_out=3)
    meter.answered("tenant-fine-tune-7", 0.3, tokens_in=5, tokens_out=4)
    assert sample("quarry_model_tokens_total", model="house-model", direction="input") == before_in + 10
    assert sample("quarry_model_tokens_total", model=OTHER, direction="output") == before_other + 4


async def test_a_consumer_counts_what_it_processed_and_what_it_dead_lettered_under_its_durable_name() -> None:
    bus = Bus("nats://127.0.0.1:1", "metered")
    seen: list[RunRequested] = []

    async def on_requested(event: RunRequested) -> None:
        seen.append(event)

    bus.subscribe(Subscription(subjects.RUN_REQUESTED, "metered-runs", on_requested))
    labels = {"service": "metered", "consumer": "metered-runs"}
    processed = sample("quarry_consumer_messages_total", **labels, outcome="processed")
    dead = sample("quarry_consumer_messages_total", **labels, outcome="dead_lettered")
    handled = sample("quarry_consumer_handling_seconds_count", **labels)
    run_id = new_id()
    event = RunRequested.create(
        RunRequestedPayload(question="what is a context manager", depth=1, max_sources=5),
        tenant_id="tenant-a",
        run_id=run_id,
        actor=Actor(user_id="u1", roles=["owner"]),
    )
    async with TestNatsBroker(bus.broker) as broker:
        await broker.publish(event.to_bytes(), subjects.RUN_REQUESTED, stream=subjects.STREAM)
        await broker.publish(b'{"type": "run.requested"}', subjects.RUN_REQUESTED, stream=subjects.STREAM)
    assert len(seen) == 1
    assert sample("quarry_consumer_messages_total", **labels, outcome="processed") == processed + 1
    assert sample("quarry_consumer_messages_total", **labels, outcome="dead_lettered") == dead + 1
    assert sample("quarry_consumer_handling_seconds_count", **labels) == handled + 2
    assert run_id not in generate_latest().decode()
