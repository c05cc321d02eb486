"""Through the gateway (in process, on a SQLite store): before publication a run's draft is shown
only to those who may approve it (owner, admin), in its log, its SSE stream and its view; and no
delegation token or raw tool output is stored or served to anyone of the tenant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from contracts.credits import CreditsRefunded, CreditsRefundedPayload, CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.run import (
    RunRejected,
    RunRejectedPayload,
    RunRequested,
    RunRequestedPayload,
    RunWaitingApproval,
    RunWaitingApprovalPayload,
)
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.tool import ToolRequested, ToolRequestedPayload
from services.gateway.readmodels.store import GatewayStore

TOKEN = "eyJhbGciOiJFZERTQSJ9.delegation-token-of-the-run-user.c2lnbmF0dXJl"
PAGE_TEXT = "RAW-PAGE-TEXT the fetched page said this, word for word"
DRAFT_CLAIM = "DRAFT-CLAIM generators yield values lazily"
PASSWORD = "long-enough-password-1"


class Caller:
    def __init__(self, http: TestClient, token: str, tenant_id: str) -> None:
        self.http, self.token, self.tenant_id = http, token, tenant_id

    def get(self, path: str) -> Any:
        return self.http.get(path, headers={"Authorization": f"Bearer {self.token}"})


def team(http: TestClient) -> dict[str, Caller]:
    r = http.post("/v1/auth/signup", json={"email": "o@acme.example", "password": PASSWORD, "tenant_name": "acme"})
    assert r.status_code == 201, r.text
    owner = Caller(http, r.json()["access_token"], r.json()["tenant_id"])
    callers = {"owner": owner}
    for role in ("admin", "member", "viewer"):
        invited = http.post(
            "/v1/members",
            json={"email": f"{role}@acme.example", "role": role},
            headers={"Authorization": f"Bearer {owner.token}"},
        )
        assert invited.status_code == 201, invited.text
        accepted = http.post(
            "/v1/auth/accept", json={"invite_token": invited.json()["invite_token"], "password": PASSWORD}
        )
        assert accepted.status_code == 200, accepted.text
        callers[role] = Caller(http, accepted.json()["access_token"], owner.tenant_id)
    return callers


def draft() -> dict[str, Any]:
    return {
        "draft": {
            "title": "Generators",
            "question": "How do generators work?",
            "summary": [{"text": DRAFT_CLAIM, "citations": [1]}],
            "sections": [],
            "sources": [{"number": 1, "source_id": "doc1", "title": "PEP 255", "location": "§1", "passage": PAGE_TEXT}],
        }
    }


def researched_run(store: GatewayStore, tenant_id: str) -> tuple[str, list[Event]]:
    """A run whose paid steps are done and that waits for approval before publishing."""
    run_id = new_id()
    actor = Actor(user_id="u-member", roles=["member"])

    def make(cls: type[Event], payload: Any) -> Event:
        return cls.create(payload, tenant_id=tenant_id, run_id=run_id, actor=actor)

    passages = [{"source_id": "doc1", "title": "PEP 255", "location": "§1", "text": PAGE_TEXT, "score": 0.9}]
    events = [
        make(RunRequested, RunRequestedPayload(question="How do generators work?", depth=1, max_sources=5)),
        make(CreditsReserved, CreditsReservedPayload(amount=40, balance=460)),
        make(
            ToolRequested,
            ToolRequestedPayload(request_id="r1", tool="web_search", task_id="t1", step="search", delegation=TOKEN),
        ),
        make(
            TaskDispatched,
            TaskDispatchedPayload(
                task_id="t2",
                kind="collect",
                role="analyst",
                input={
                    "question": "How do generators work?",
                    "findings": [{"sub_question": "q", "passages": passages}],
                },
            ),
        ),
        make(
            TaskSucceeded,
            TaskSucceededPayload(task_id="t1", kind="search", output={"sub_question": "q", "passages": passages}),
        ),
        make(TaskSucceeded, TaskSucceededPayload(task_id="t3", kind="synthesise", output=draft())),
        make(
            TaskSucceeded,
            TaskSucceededPayload(
                task_id="t4",
                kind="verify",
                output={
                    "checked": 1,
                    "supported": 0,
                    "support_rate": 0.0,
                    "unsupported": [{"where": "summary 1", "text": DRAFT_CLAIM, "citations": [1], "score": 0.1}],
                },
            ),
        ),
        make(
            RunWaitingApproval,
            RunWaitingApprovalPayload(
                approval_id="a1", subject="publish", reason="approve", deadline=datetime.now(UTC) + timedelta(hours=1)
            ),
        ),
    ]
    for ev in events:
        assert store.record_run_event(ev)
    return run_id, events


def test_the_log_shows_the_draft_to_approvers_only_before_publication(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, store = gateway
    callers = team(http)
    run_id, _ = researched_run(store, callers["owner"].tenant_id)
    for role, caller in callers.items():
        r = caller.get(f"/v1/runs/{run_id}/log")
        assert r.status_code == 200, r.text
        body = r.text
        assert TOKEN not in body and PAGE_TEXT not in body, role
        assert (DRAFT_CLAIM in body) == (role in ("owner", "admin")), role
        kinds = [
            e["event"]["payload"].get("kind") for e in r.json()["events"] if e["event"]["type"] == "task.succeeded"
        ]
        assert kinds == ["search", "synthesise", "verify"]  # the events are there; their draft is not


def test_the_run_view_lists_the_drafts_sources_to_approvers_only(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, store = gateway
    callers = team(http)
    run_id, _ = researched_run(store, callers["owner"].tenant_id)
    for role, caller in callers.items():
        view = caller.get(f"/v1/runs/{run_id}").json()
        assert view["state"] == "waiting_approval" and view["passages_found"] == 1
        assert bool(view["sources"]) == (role in ("owner", "admin")), role
        state = caller.get(f"/v1/runs/{run_id}/state").json()
        assert bool(state["sources"]) == (role in ("owner", "admin")), role


def test_the_stream_of_a_rejected_run_never_shows_its_draft_to_a_member(
    gateway: tuple[TestClient, GatewayStore],
) -> None:
    http, store = gateway
    callers = team(http)
    tenant_id = callers["owner"].tenant_id
    run_id, events = researched_run(store, tenant_id)
    cause = events[0]
    store.record_run_event(RunRejected.caused_by(cause, RunRejectedPayload(reason="approval refused by o")))
    store.record_run_event(CreditsRefunded.caused_by(cause, CreditsRefundedPayload(amount=0, reason="-", balance=0)))
    for role, caller in callers.items():
        with http.stream(
            "GET", f"/v1/runs/{run_id}/events", headers={"Authorization": f"Bearer {caller.token}"}
        ) as stream:
            assert stream.status_code == 200
            body = "".join(stream.iter_text())
        assert "event: end" in body and "event: task.succeeded" in body, role
        assert TOKEN not in body and PAGE_TEXT not in body, role
        assert (DRAFT_CLAIM in body) == (role in ("owner", "admin")), role


def test_once_published_the_draft_is_readable_by_every_reader(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, store = gateway
    callers = team(http)
    run_id, events = researched_run(store, callers["owner"].tenant_id)
    art = Artifact(path=f"reports/x/{run_id}/report.md", sha256="0" * 64, media_type="text/markdown", size=1)
    store.record_run_event(
        ReportPublished.caused_by(events[0], ReportPublishedPayload(task_id="t5", title="G", markdown=art, pdf=art))
    )
    for role, caller in callers.items():
        assert DRAFT_CLAIM in caller.get(f"/v1/runs/{run_id}/log").text, role
        assert caller.get(f"/v1/runs/{run_id}").json()["sources"], role


def test_the_stored_log_holds_no_token_and_no_raw_tool_output(gateway: tuple[TestClient, GatewayStore]) -> None:
    http, store = gateway
    callers = team(http)
    run_id, _ = researched_run(store, callers["owner"].tenant_id)
    stored = json.dumps([data for _, _, data in store.run_events_after(callers["owner"].tenant_id, run_id, 0)])
    assert TOKEN not in stored and PAGE_TEXT not in stored
    assert DRAFT_CLAIM in stored  # the draft is kept, for those who may approve it
