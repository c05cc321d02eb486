"""One run, one trace: with OTEL_TRACES_EXPORTER=otlp every service exports its spans to an OTLP/HTTP
receiver (a real one, on 127.0.0.1), and the run's trace, rooted at the gateway's `POST /v1/runs`,
holds the work of every service it touched: the bus's publishes and deliveries, each task, each
policy decision, each web search and fetch, each billing entry and each model call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import natsserver
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig
from tests.fakes.llm import API_KEY, FakeLlm
from tests.fakes.llm import serve as serve_llm
from tests.fakes.otlp import OtlpReceiver, ReceivedSpan
from tests.fakes.otlp import serve as serve_otlp
from tests.support.polling import wait_for
from tests.support.stack import TERMINAL, ClientFactory, ask, clients_of, new_tenant, on_plan, running, stuck_run
from tests.support.web import registry_for_tests, served_web

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.timeout(600)]

QUESTION = "How does zonation shape tide pools and what threatens tide pool communities?"
MODEL = "fake-planner"


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, OtlpReceiver]]:
    data_dir = tmp_path_factory.mktemp("e2e-trace")
    with serve_otlp() as (receiver, endpoint), served_web() as web, serve_llm(FakeLlm(latency_s=(0.0, 0.05))) as llm:
        _, _, searxng, _ = web
        config = StackConfig(
            data_dir=data_dir,
            http_port=natsserver.free_port(),
            extra_env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "1.0",
                "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: the batch goes out soon after the run ends
                "QUARRY_ANALYST_MODE": "live",
                "QUARRY_LLM_BASE_URL": llm,
                "QUARRY_LLM_API_KEY": API_KEY,
                "QUARRY_LLM_MODEL": MODEL,
                "QUARRY_SEARXNG_URL": searxng,
                "QUARRY_WEB_ALLOW_PRIVATE_HOSTS": "true",  # the website lives on 127.0.0.1
                "QUARRY_REGISTRY_FILE": str(registry_for_tests(data_dir)),
            },
        )
        with running(config) as stack:
            yield stack, receiver


def ended(client: QuarryClient, run_id: str) -> dict[str, Any] | None:
    view = client.run(run_id)
    return view if view["state"] in TERMINAL and view["cost"]["closed"] else None


def run_envelope(client: QuarryClient, run_id: str) -> dict[str, Any]:
    events = client.get(f"/v1/runs/{run_id}/log").json()["events"]
    envelope: dict[str, Any] = next(e["event"] for e in events if e["event"]["type"] == "run.requested")
    return envelope


def all_exported(receiver: OtlpReceiver, trace_id: str) -> list[ReceivedSpan] | None:
    """The trace once every service's last spans are in (the reporter's task, billing's
    settlement) and so is every span's parent: a span is exported when it ends, and a parent ends
    after its children, so under load it can reach the receiver a batch later than they do."""
    spans = receiver.trace(trace_id)
    names = {s.name for s in spans}
    ids = {s.span_id for s in spans}
    parents = all(not s.parent_span_id or s.parent_span_id in ids for s in spans)
    done = {"task report", "billing settled"} <= names and any(n.startswith("chat ") for n in names)
    return spans if done and parents else None


def test_one_run_is_one_trace_across_every_service(
    traced_stack: tuple[Stack, OtlpReceiver], web_client: ClientFactory
) -> None:
    stack, receiver = traced_stack
    client = on_plan(new_tenant(web_client, "tracy"), "pro")  # fetch_url is a paid plan's
    run_id = ask(client, question=QUESTION, depth=1, max_sources=4, sources=["web"])
    try:
        view = wait_for(lambda: ended(client, run_id), timeout_s=360, what="the run to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {stuck_run(stack, client, run_id)}") from None
    assert view is not None and view["state"] == "completed", view and view["error"]
    requested = run_envelope(client, run_id)
    tenant_id = requested["tenant_id"]
    trace_id = requested["trace"]["traceparent"].split("-")[1]
    spans = wait_for(lambda: all_exported(receiver, trace_id), timeout_s=60, what="the run's spans, parents and all")
    assert spans is not None

    services = {s.service for s in spans}
    assert len(services) >= 6, Counter(s.service for s in spans)
    assert services >= {"gateway", "orchestrator", "policy", "billing", "retriever", "analyst", "reporter"}
    # Every span names the run and its tenant, and hangs off one root: the run's request.
    for span in spans:
        assert span.attributes.get("quarry.run.id") == run_id, span
        assert span.attributes.get("quarry.tenant.id") == tenant_id, span
    (root,) = [s for s in spans if not s.parent_span_id]
    assert root.service == "gateway" and root.kind == "server"
    assert root.attributes["http.request.method"] == "POST" and root.attributes["http.route"] == "/v1/runs"
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s is not root), "a span's parent is missing"

    # The bus: producer and consumer spans with the messaging conventions, one under the other.
    by_id = {s.span_id: s for s in spans}
    consumers = [s for s in spans if s.kind == "consumer"]
    assert {s.service for s in consumers} >= {"orchestrator", "policy", "billing", "retriever", "analyst", "reporter"}
    for span in consumers:
        assert (
            span.attributes["messaging.system"] == "nats" and span.attributes["messaging.operation.type"] == "process"
        )
        assert span.attributes["messaging.consumer.group.name"] and span.attributes["messaging.destination.name"]
        producer = by_id[span.parent_span_id]
        assert producer.kind == "producer" and producer.attributes["messaging.operation.type"] == "send"
        assert producer.attributes["messaging.message.id"] == span.attributes["messaging.message.id"]

    # Each task, decision, web call, billing entry and model call.
    named = Counter(s.name for s in spans)
    for task in ("task plan", "task search", "task fetch", "task synthesise", "task report"):
        assert named[task] >= 1, named
    decisions = [s for s in spans if s.name == "policy decide"]
    assert decisions and all(
        d.attributes["quarry.policy.outcome"] == "allow" and d.attributes["quarry.policy.ids"] for d in decisions
    )
    assert {d.attributes["quarry.policy.tool"] for d in decisions} >= {"web_search", "fetch_url"}
    assert named["web search"] >= 1 and named["web fetch"] >= 1 and named["web fetch page"] >= 1
    entries = {s.attributes["quarry.billing.entry"] for s in spans if s.name.startswith("billing ")}
    assert {"reserved", "metered", "settled"} <= entries
    calls = [s for s in spans if s.name == f"chat {MODEL}"]
    assert calls and all(c.service == "analyst" and c.kind == "client" for c in calls)
    for call in calls:
        a = call.attributes
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.request.model"] == MODEL and a["gen_ai.agent.name"] == "quarry-analyst"
        assert a["gen_ai.agent.version"] and a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.system" not in a


@pytest.fixture
def web_client(traced_stack: tuple[Stack, OtlpReceiver]) -> Iterator[ClientFactory]:
    stack, _ = traced_stack
    with clients_of(stack) as bound:
        yield bound
