"""After one run, the `/metrics` of all seven services show that run's counts: every service as its
own process on a fresh stack (so every counter starts at zero), the analyst on a model (a local
OpenAI-compatible server), the gateway's metrics on its health port and not on its API's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.client import QuarryClient
from devtools.stack import SERVICES, Stack
from quarry_runtime.metrics import looks_like_an_id
from tests.support.polling import wait_for
from tests.support.stack import completed_run, live_analyst_config, new_tenant, running

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

QUESTION = "How does the with statement work and what are context managers?"
MODEL = "fake-planner"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[Stack]:
    with running(live_analyst_config(tmp_path_factory.mktemp("metrics"), llm_url, MODEL)) as stack:
        yield stack


def scrape(stack: Stack, service: str) -> tuple[str, Samples]:
    response = httpx.get(stack.metrics_url(service), timeout=5.0)
    assert response.status_code == 200, (service, response.text[:500])
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return response.text, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, series), v in samples.items() if n == name and wanted <= series)


def test_every_service_s_metrics_show_the_run_s_counts(fresh_stack: Stack) -> None:
    alice = new_tenant(lambda: QuarryClient(f"http://127.0.0.1:{fresh_stack.config.http_port}"), "metrics")
    try:
        run_id = completed_run(alice, QUESTION)
        view = wait_for(lambda: (v := alice.run(run_id))["cost"]["closed"] and v, 60.0, "the run's credits settled")
        tasks: list[dict[str, Any]] = alice.get(f"/v1/runs/{run_id}/tasks").json()["tasks"]
        envelopes = [e.json() for e in alice.events(run_id) if e.event != "end"]
        decided = [e for e in envelopes if e["type"] == "tool.decided"]
        ids = {run_id, *(t["task_id"] for t in tasks), *(e["event_id"] for e in envelopes)}
        ids |= {e["tenant_id"] for e in envelopes} | {e["actor"]["user_id"] for e in envelopes}

        def settled() -> dict[str, tuple[str, Samples]] | None:
            scraped = {name: scrape(fresh_stack, name) for name in SERVICES}
            billing = scraped["billing"][1]
            return (
                scraped if total(billing, "quarry_credits_total", entry="settled") == view["cost"]["settled"] else None
            )

        found = wait_for(settled, 30.0, "billing's metrics to show the run's settlement")
        assert found is not None
        scraped = found
    finally:
        alice.close()

    orchestrator, billing, policy = scraped["orchestrator"][1], scraped["billing"][1], scraped["policy"][1]
    assert total(orchestrator, "quarry_runs_started_total") == 1
    assert total(orchestrator, "quarry_runs_ended_total", state="completed") == 1
    assert total(orchestrator, "quarry_runs_ended_total") == 1
    assert total(orchestrator, "quarry_run_duration_seconds_count", state="completed") == 1
    # Each kind of task the run's inspector shows, timed by the workers as often as it succeeded.
    succeeded = Counter(t["kind"] for t in tasks if t["status"] == "succeeded")
    assert succeeded, tasks
    for kind, n in succeeded.items():
        timed = sum(
            total(samples, "quarry_task_duration_seconds_count", kind=kind, outcome="succeeded")
            for _, samples in scraped.values()
        )
        assert timed == n, kind
    # The credits are the run's bill, as billing closed it.
    cost = view["cost"]
    assert cost["settled"] > 0
    for entry in ("reserved", "settled", "refunded"):
        assert total(billing, "quarry_credits_total", entry=entry) == cost[entry], (entry, cost)
    # One policy decision counted per tool.decided the run's stream carried, by the tool asked for.
    assert decided and total(policy, "quarry_policy_decisions_total") == len(decided)
    by_tool = Counter(e["payload"]["tool"] for e in decided)
    for tool, n in by_tool.items():
        assert total(policy, "quarry_policy_decisions_total", tool=tool) == n, tool
    # The model's tokens, by the configured model's name, as the tasks' usage records say.
    analyst = scraped["analyst"][1]
    tokens_in = sum(t["usage"]["tokens_in"] for t in tasks)
    assert tokens_in > 0 and total(analyst, "quarry_model_tokens_total", model=MODEL, direction="input") == tokens_in
    assert total(analyst, "quarry_model_request_duration_seconds_count", model=MODEL, outcome="ok") > 0
    assert "quarry_page_fetches_total" in scraped["retriever"][0]
    # The admission itself, by its route template, on the gateway's health port.
    gateway = scraped["gateway"][1]
    assert total(gateway, "quarry_http_requests_total", method="POST", route="/v1/runs", status="202") == 1
    assert total(gateway, "quarry_http_requests_total", route="/v1/runs/{run_id}") > 0
    for service, (text, samples) in scraped.items():
        assert total(samples, "quarry_consumer_messages_total", outcome="processed") > 0, service
        assert total(samples, "quarry_consumer_messages_total", outcome="dead_lettered") == 0, service
        assert any(n == "quarry_consumer_lag_seconds" for n, _ in samples), service
        # No run, tenant or task id anywhere, and no label value shaped like one.
        assert not [i for i in ids if i and i in text], service
        values = {v for _, series in samples for _, v in series}
        assert not [v for v in values if looks_like_an_id(v)], service


def test_the_gateway_s_metrics_are_not_on_its_public_port(fresh_stack: Stack) -> None:
    response = httpx.get(f"http://127.0.0.1:{fresh_stack.config.http_port}/metrics", timeout=5.0)
    assert "quarry_http_requests_total" not in response.text
    assert fresh_stack.procs["gateway"].metrics_port not in (None, fresh_stack.config.http_port)
