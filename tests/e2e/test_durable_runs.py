"""Durable runs end to end: approvals, expiry, cancellation, restarts while waiting, audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from devtools.client import QuarryClient
from devtools.stack import SERVICES, Stack
from services.gateway.readmodels.run_view import TERMINAL
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, new_tenant
from tests.support.stack import ask as ask_run

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

QUESTION = "What is a context manager in Python?"


def tenant(factory: ClientFactory, name: str) -> QuarryClient:
    return new_tenant(factory, name)


def ask(client: QuarryClient, **extra: Any) -> str:
    return ask_run(client, question=QUESTION, depth=1, max_sources=4, **extra)


def state_of(client: QuarryClient, run_id: str, state: str) -> Callable[[], bool]:
    return lambda: client.run(run_id)["state"] == state


def settled(client: QuarryClient, run_id: str) -> Callable[[], bool]:
    """The run is over and billed, as the gateway sees it (its consumers may lag each other)."""

    def check() -> bool:
        view = client.run(run_id)
        return bool(view["cost"]["closed"]) and view["state"] in TERMINAL

    return check


def post(client: QuarryClient, path: str, body: dict[str, Any]) -> Any:
    return client.http.post(path, json=body, headers={"Authorization": f"Bearer {client.token}"})


def test_an_approved_run_survives_every_service_restarting_while_it_waits(
    stack: Stack, client_factory: ClientFactory
) -> None:
    owner = tenant(client_factory, "olga")
    run_id = ask(owner, approval_required=True)
    wait_for(state_of(owner, run_id, "waiting_approval"), what="the run to wait for approval")
    view = owner.run(run_id)
    assert view["approval"]["status"] == "pending" and view["approval"]["subject"] == "publish"
    assert [s["step"] for s in view["steps"] if s["status"] == "finished"][-1] == "verify"

    for name in SERVICES:
        stack.kill(name)
    time.sleep(1.0)
    stack.wait_healthy(timeout_s=120)
    assert owner.run(run_id)["state"] == "waiting_approval"

    r = post(owner, f"/v1/runs/{run_id}/approval", {"decision": "approve", "comment": "ship it"})
    assert r.status_code == 202, r.text
    wait_for(state_of(owner, run_id, "completed"), what="the approved run to complete")
    view = owner.run(run_id)
    assert view["approval"]["status"] == "approved" and view["approval"]["comment"] == "ship it"
    assert view["approval"]["decided_by"] == owner.run(run_id)["user_id"]
    assert any(s["step"] == "index" and s["status"] == "finished" for s in view["steps"])
    assert post(owner, f"/v1/runs/{run_id}/approval", {"decision": "approve"}).status_code == 409


def test_a_refused_run_is_rejected_and_charged_its_usage(stack: Stack, client_factory: ClientFactory) -> None:
    owner = tenant(client_factory, "rita")
    run_id = ask(owner, approval_required=True)
    wait_for(state_of(owner, run_id, "waiting_approval"), what="the approval gate")
    assert post(owner, f"/v1/runs/{run_id}/approval", {"decision": "maybe"}).status_code == 422
    post(owner, f"/v1/runs/{run_id}/approval", {"decision": "reject", "comment": "off topic"})
    wait_for(settled(owner, run_id), what="the run to end and billing to close it")
    view = owner.run(run_id)
    assert view["state"] == "rejected" and "off topic" in view["error"]
    # The paid steps came before the gate: their metered usage is charged, the rest released.
    cost = view["cost"]
    assert cost["settled"] > 0 and cost["settled"] + cost["refunded"] == cost["reserved"], cost


def test_an_unanswered_approval_expires_and_is_charged_its_usage(stack: Stack, client_factory: ClientFactory) -> None:
    owner = tenant(client_factory, "erik")
    r = owner.http.patch(
        "/v1/tenant/settings",
        json={"approval_required": True, "approval_timeout_s": 5},
        headers={"Authorization": f"Bearer {owner.token}"},
    )
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("approval_required", "approval_timeout_s")} == {
        "approval_required": True,
        "approval_timeout_s": 5,
    }
    run_id = ask(owner)  # the tenant's default now asks for approval
    wait_for(state_of(owner, run_id, "waiting_approval"), what="the approval gate")
    wait_for(state_of(owner, run_id, "expired"), timeout_s=30, what="the approval to expire")
    wait_for(settled(owner, run_id), what="billing to close it")
    cost = owner.run(run_id)["cost"]
    assert cost["settled"] > 0 and cost["settled"] + cost["refunded"] == cost["reserved"], cost


def test_cancel_stops_the_run_and_refunds_what_was_not_used(stack: Stack, client_factory: ClientFactory) -> None:
    owner = tenant(client_factory, "carl")
    run_id = ask(owner, approval_required=True)
    wait_for(state_of(owner, run_id, "waiting_approval"), what="the approval gate")
    r = post(owner, f"/v1/runs/{run_id}/cancel", {"reason": "changed my mind"})
    assert r.status_code == 202
    wait_for(settled(owner, run_id), what="the run to end and billing to settle it")
    view = owner.run(run_id)
    assert view["state"] == "cancelled" and view["error"] == "changed my mind"
    cost = view["cost"]
    assert cost["settled"] > 0 and cost["settled"] + cost["refunded"] == cost["reserved"]
    assert not any(s["step"] in ("index", "report") for s in view["steps"])
    assert post(owner, f"/v1/runs/{run_id}/cancel", {}).status_code == 409


def test_state_at_any_point_is_rebuilt_from_the_log(stack: Stack, client_factory: ClientFactory) -> None:
    owner = tenant(client_factory, "audra")
    run_id = ask(owner)
    wait_for(settled(owner, run_id), what="the run to finish and be billed")
    log: list[dict[str, Any]] = []
    after = 0
    while True:
        page = owner.get(f"/v1/runs/{run_id}/log?after={after}&limit=7").json()
        log += page["events"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(log) > 14 and [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    types = [e["event"]["type"] for e in log]
    assert types[0] == "run.requested"

    first = owner.get(f"/v1/runs/{run_id}/state?at={log[0]['seq']}").json()
    assert first["state"] == "requested" and first["events"] == 1
    planned_seq = next(e["seq"] for e in log if e["event"]["type"] == "run.planned")
    mid = owner.get(f"/v1/runs/{run_id}/state?at={planned_seq}").json()
    assert mid["sub_questions"] and mid["state"] not in ("completed",)
    final = owner.get(f"/v1/runs/{run_id}/state").json()
    live = owner.run(run_id)
    assert final["state"] == live["state"] == "completed"
    assert final["cost"] == live["cost"] and final["sources"] == live["sources"]
    stamp = log[0]["event"]["occurred_at"]
    assert owner.get(f"/v1/runs/{run_id}/state?at={stamp}").json()["state"] == "requested"
    assert owner.get(f"/v1/runs/{run_id}/state?at=yesterday").status_code == 400
