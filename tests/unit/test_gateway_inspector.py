"""The run inspector's task graph and memory, from a run's real events through the gateway app
(SQLite store; billing's own reply builder on an in-memory ledger in place of the bus): attempts
with their durations, policy decisions, the facts indexed, the credits billing metered."""

from __future__ import annotations

import json
from typing import Any, NamedTuple, cast

import pytest
from fastapi.testclient import TestClient

from contracts import subjects
from contracts.envelope import Actor, Event
from contracts.question import QUESTION_TOOLS
from contracts.run import RunRequested
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.gateway.domain.inspector import task_graph
from services.gateway.readmodels.projection import for_run_log
from services.gateway.readmodels.store import GatewayStore
from tests.support.billing_bus import BillingOnTheBus
from tests.support.inspected_run import record_run


@pytest.fixture
def bus() -> BillingOnTheBus:
    return BillingOnTheBus()


def _caller(http: TestClient, name: str) -> dict[str, str]:
    r = http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": "long-enough-1", "tenant_name": name}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


class Recorded(NamedTuple):
    http: TestClient
    owner: dict[str, str]  # the headers of acme's owner
    tenant: str
    events: list[Event]


@pytest.fixture
def recorded(gateway: tuple[TestClient, GatewayStore]) -> Recorded:
    """acme's owner signed up, and acme's run-1 recorded in the gateway's log."""
    http, store = gateway
    owner = _caller(http, "acme")
    tenant = http.get("/v1/auth/me", headers=owner).json()["tenant_id"]
    return Recorded(http, owner, tenant, record_run(store, tenant, "run-1"))


def test_tasks_show_attempts_durations_policy_and_the_memory_indexed(recorded: Recorded) -> None:
    http, owner, _, _ = recorded
    r = http.get("/v1/runs/run-1/tasks", headers=owner)
    assert r.status_code == 200, r.text
    tasks = r.json()["tasks"]
    assert [(t["kind"], t["status"]) for t in tasks] == [
        ("search", "succeeded"),
        ("synthesise", "succeeded"),
        ("index", "succeeded"),
    ]
    search = tasks[0]
    assert search["duration_ms"] == 8000 and search["usage_records"] == 1
    assert [(a["attempt"], a["outcome"], a["duration_ms"]) for a in search["attempts"]] == [
        (1, "failed", 2000),
        (2, "succeeded", 5000),
    ]
    assert search["attempts"][0]["reason"] == "timeout" and search["attempts"][0]["retryable"] is True
    assert search["policy"] == [
        {
            "decision": "allow",
            "request_id": "q1",
            "tool": "web_search",
            "requested_at": "2030-01-01T00:00:05Z",
            "reasons": ["within plan"],
            "policy_ids": ["p-allow-search"],
            "policy_version": "v7",
            "decided_at": "2030-01-01T00:00:05Z",
        }
    ]
    indexed = r.json()["memory"]
    assert indexed["indexed"] is True and indexed["chunks"] == 2
    assert indexed["entries"] == [
        {"title": "Generators — Summary", "facts": [{"text": "A generator yields values lazily.", "citations": [1]}]},
        {"title": "Generators — Protocol", "facts": [{"text": "next() resumes it.", "citations": [1]}]},
    ]
    assert "secret passage" not in r.text

    # Before the report is published the draft's findings are the approvers' alone.
    invite = http.post("/v1/members", json={"email": "m@example.com", "role": "member"}, headers=owner).json()
    joined = http.post("/v1/auth/accept", json={"invite_token": invite["invite_token"], "password": "long-enough-2"})
    member = {"Authorization": f"Bearer {joined.json()['access_token']}"}
    seen = http.get("/v1/runs/run-1/tasks", headers=member).json()
    assert seen["memory"]["entries"] == [] and "withheld" in seen["memory"] and len(seen["tasks"]) == 3
    assert "generator yields" not in json.dumps(seen)

    other = _caller(http, "other")
    assert http.get("/v1/runs/run-1/tasks", headers=other).status_code == 404


def test_each_task_sums_the_usage_its_worker_recorded(recorded: Recorded) -> None:
    http, owner, _, _ = recorded
    tasks = {t["kind"]: t for t in http.get("/v1/runs/run-1/tasks", headers=owner).json()["tasks"]}
    assert tasks["search"]["usage"] == {
        "records": 1,
        "tokens_in": 0,
        "tokens_out": 0,
        "search_calls": 3,
        "seconds": 1.25,
        "models": [],
        "by_tool": {"web_search": {"tokens_in": 0, "tokens_out": 0, "search_calls": 3, "seconds": 1.25}},
    }
    assert tasks["synthesise"]["usage"] == {
        "records": 2,
        "tokens_in": 2000,
        "tokens_out": 500,
        "search_calls": 0,
        "seconds": 2.5,
        "models": ["model-a", "model-b"],
        "by_tool": {"llm_generate": {"tokens_in": 2000, "tokens_out": 500, "search_calls": 0, "seconds": 2.5}},
    }
    assert tasks["synthesise"]["usage_records"] == 2
    # The index task reported nothing: zeros, not a missing key.
    assert tasks["index"]["usage"]["records"] == 0 and tasks["index"]["usage"]["by_tool"] == {}


def test_each_task_shows_the_credits_billing_metered_for_its_usage(recorded: Recorded, bus: BillingOnTheBus) -> None:
    http, owner, tenant, events = recorded
    # Billing sees the same events: it reserves for the run and meters each usage record.
    bus.billing.admit(cast(RunRequested, events[0]))
    used = [e for e in events if isinstance(e, UsageRecorded)]
    for e in used[:-1]:  # the last record has not reached billing yet
        bus.billing.meter(e)
    metered = bus.billing.ledger(tenant).metered
    r = http.get("/v1/runs/run-1/tasks", headers=owner)
    assert r.status_code == 200, r.text
    assert subjects.BILLING_RUN_CREDITS in bus.asked
    tasks = {t["kind"]: t for t in r.json()["tasks"]}
    search, (draft_a, draft_b) = used[0], used[1:]
    assert tasks["search"]["credits"] == metered[search.event_id] > 0
    assert tasks["synthesise"]["credits"] == metered[draft_a.event_id] > 0
    assert tasks["index"]["credits"] == 0
    assert r.json()["credits"] == {
        "available": True,
        "total": metered[search.event_id] + metered[draft_a.event_id],
        "unmetered_records": 1,
    }
    bus.billing.meter(draft_b)
    later = http.get("/v1/runs/run-1/tasks", headers=owner).json()
    assert later["credits"]["unmetered_records"] == 0
    assert later["credits"]["total"] == sum(bus.billing.ledger(tenant).metered[u.event_id] for u in used)

    # Another tenant neither sees the run nor gets billing asked about it.
    asked = len(bus.asked)
    assert http.get("/v1/runs/run-1/tasks", headers=_caller(http, "other")).status_code == 404
    assert len(bus.asked) == asked


def test_the_tasks_answer_without_credits_when_billing_is_silent(recorded: Recorded, bus: BillingOnTheBus) -> None:
    http, owner, _, _ = recorded
    bus.silent = True
    r = http.get("/v1/runs/run-1/tasks", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["credits"] == {"available": False, "total": None, "unmetered_records": None}
    assert [t["credits"] for t in r.json()["tasks"]] == [None, None, None]
    assert r.json()["tasks"][0]["usage"]["search_calls"] == 3  # the rest of the page is all there


def test_a_usage_record_counts_once_and_a_question_s_usage_is_not_a_run_s() -> None:
    ids: dict[str, Any] = {"tenant_id": "t", "run_id": "run-1", "actor": Actor(user_id="u")}
    dispatched = TaskDispatched.create(
        TaskDispatchedPayload(task_id="s", kind="search", role="retriever", input={}), **ids
    )
    used = UsageRecorded.create(
        UsageRecordedPayload(task_id="s", kind="search", tool="web_search", search_calls=2, tokens_in=7), **ids
    )
    log = [json.loads(e.model_dump_json()) for e in (dispatched, used, used)]
    (task,) = task_graph(log)
    assert task["usage"]["records"] == 1 and task["usage"]["search_calls"] == 2 and task["usage"]["tokens_in"] == 7
    # Hostile or broken payloads add nothing rather than failing the page.
    odd = {**log[1], "event_id": "other", "payload": {**log[1]["payload"], "search_calls": "9", "seconds": -4}}
    (task,) = task_graph([*log, odd])
    assert task["usage"]["records"] == 2 and task["usage"]["search_calls"] == 2 and task["usage"]["seconds"] == 0.0
    assert for_run_log(used)
    for tool in QUESTION_TOOLS:
        asked = UsageRecorded.create(UsageRecordedPayload(task_id="q", kind="recall", tool=tool), **ids)
        assert not for_run_log(asked), tool


def test_an_outcome_logged_before_its_dispatch_still_ends_its_attempt() -> None:
    """The log keeps the order the gateway applied events in, and a worker's outcome can be
    applied before the orchestrator's dispatch that caused it: the task still shows the attempt
    succeeded, with the usage records its outcome names, not a task still running."""
    ids: dict[str, Any] = {"tenant_id": "t", "run_id": "run-1", "actor": Actor(user_id="u")}
    dispatched = TaskDispatched.create(
        TaskDispatchedPayload(task_id="v", kind="verify", role="analyst", input={}), **ids
    )
    used = UsageRecorded.create(UsageRecordedPayload(task_id="v", kind="verify", tool="verify"), **ids)
    done = TaskSucceeded.create(
        TaskSucceededPayload(task_id="v", kind="verify", output={}, usage_event_ids=[used.event_id]), **ids
    )
    in_order, out_of_order = (
        task_graph([json.loads(e.model_dump_json()) for e in log])
        for log in ((dispatched, used, done), (used, done, dispatched))
    )
    assert out_of_order == in_order
    (task,) = out_of_order
    assert task["status"] == "succeeded" and task["usage_records"] == task["usage"]["records"] == 1
    assert [a["outcome"] for a in task["attempts"]] == ["succeeded"]
