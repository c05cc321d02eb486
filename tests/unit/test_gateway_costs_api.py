"""GET /v1/runs/{id}/costs and its ops twin through the gateway app (SQLite store), on a run's real
events and billing's own ledger in process: billing reserves, meters and settles the run, its
credits events (translated as billing's outbox publishes them) reach the gateway's log, and the
steps' charges add up to what billing settled."""

from __future__ import annotations

from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts.envelope import Event
from contracts.run import RunCompleted, RunCompletedPayload, RunRequested
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.usage import UsageRecorded
from services.billing.domain import Ledger
from services.billing.translate import translate
from services.gateway.adapters.platform_audit import PlatformActor
from services.gateway.readmodels.store import GatewayStore
from tests.support.billing_bus import BillingOnTheBus
from tests.support.inspected_run import record_run

PASSWORD = "long-enough-1"


@pytest.fixture
def bus() -> BillingOnTheBus:
    return BillingOnTheBus()


def _login(http: TestClient, email: str) -> dict[str, str]:
    r = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _signup(http: TestClient, name: str) -> dict[str, str]:
    body = {"email": f"{name}@example.com", "password": PASSWORD, "tenant_name": name}
    assert http.post("/v1/auth/signup", json=body).status_code in (200, 201)
    return _login(http, f"{name}@example.com")


def _billed(store: GatewayStore, bus: BillingOnTheBus, events: list[Event]) -> None:
    """Billing's saga for the run: reserve, meter each record, settle on completion; then its
    credits events, as its outbox translates them, recorded in the gateway's run log."""
    requested = cast(RunRequested, events[0])
    bus.billing.admit(requested)
    used = [e for e in events if isinstance(e, UsageRecorded)]
    for e in used:
        bus.billing.meter(e)
    done = RunCompleted.create(
        RunCompletedPayload(usage_event_ids=[u.event_id for u in used], sources=1),
        tenant_id=requested.tenant_id,
        run_id=requested.run_id,
        actor=requested.actor,
    )
    assert store.record_run_event(done)
    bus.billing.close_run(done)
    repo = bus.billing.repository
    ledger_id = Ledger.create_id(requested.tenant_id)

    def ledger_at(originator: Any, version: int | None) -> Ledger:
        return cast(Ledger, repo.get(originator, version=version))

    for stored in repo.event_store.get(ledger_id):
        for out in translate(stored, ledger_at):
            if out.event.run_id == requested.run_id:
                store.record_run_event(out.event)


def _billed_run(http: TestClient, store: GatewayStore, bus: BillingOnTheBus) -> tuple[dict[str, str], str, list[Event]]:
    """A tenant's owner, the tenant and run-1's events, billed and settled by billing."""
    owner = _signup(http, "acme")
    tenant = http.get("/v1/auth/me", headers=owner).json()["tenant_id"]
    events = record_run(store, tenant, "run-1")
    _billed(store, bus, events)
    return owner, tenant, events


def test_a_settled_runs_steps_add_up_to_what_billing_settled(
    gateway: tuple[TestClient, GatewayStore], bus: BillingOnTheBus
) -> None:
    http, store = gateway
    owner, tenant, events = _billed_run(http, store, bus)
    r = http.get("/v1/runs/run-1/costs", headers=owner)
    assert r.status_code == 200, r.text
    costs = r.json()
    res = bus.billing.ledger(tenant).reservations["run-1"]
    assert res.closed and res.settled > 0
    credits = costs["totals"]["credits"]
    assert credits["settlement"] == "settled"
    assert credits["settled"] == credits["charged"] == credits["metered"] == res.settled
    assert credits["reserved"] == res.amount and credits["released"] == res.refunded
    assert sum(s["credits"]["charged"] for s in costs["steps"]) == res.settled
    steps = {s["kind"]: s for s in costs["steps"]}
    metered = bus.billing.ledger(tenant).metered
    synth_ids = [e.event_id for e in events if isinstance(e, UsageRecorded) and e.payload.kind == "synthesise"]
    assert steps["synthesise"]["credits"]["charged"] == sum(metered[u] for u in synth_ids) > 0
    assert steps["synthesise"]["by_model"] == [
        {"model": "model-a", "tokens_in": 1200, "tokens_out": 300},
        {"model": "model-b", "tokens_in": 800, "tokens_out": 200},
    ]
    assert [a["outcome"] for a in steps["search"]["attempts"]] == ["failed", "succeeded"]
    assert costs["totals"]["tokens_in"] == 2000 and costs["totals"]["wall_ms"] is not None

    # Another tenant does not see it.
    assert http.get("/v1/runs/run-1/costs", headers=_signup(http, "other")).status_code == 404


def test_operators_see_any_tenants_costs_and_the_use_is_audited(
    gateway: tuple[TestClient, GatewayStore], bus: BillingOnTheBus
) -> None:
    http, store = gateway
    owner, tenant, events = _billed_run(http, store, bus)
    asked = TaskDispatchedPayload(
        task_id="s2", kind="search", role="retriever", input={"sub_question": "Who pays acme's rent?"}
    )
    store.record_run_event(TaskDispatched.create(asked, tenant_id=tenant, run_id="run-1", actor=events[0].actor))
    assert http.get("/v1/ops/runs/run-1/costs", headers=owner).status_code == 403
    _signup(http, "ops")
    store.operators.grant("ops@example.com", "platform_operator", PlatformActor(name="cli", source_address="cli"))
    operator = _login(http, "ops@example.com")
    r = http.get("/v1/ops/runs/run-1/costs", headers=operator)
    assert r.status_code == 200, r.text
    seen = r.json()
    mine = http.get("/v1/runs/run-1/costs", headers=owner).json()
    assert seen["tenant_id"] == tenant and seen["totals"] == mine["totals"]
    assert [s["task_id"] for s in seen["steps"]] == [s["task_id"] for s in mine["steps"]]
    assert any(e["kind"] == "ops.read" and "costs" in str(e) for e in store.platform_audit.entries())
    assert http.get("/v1/ops/runs/nope/costs", headers=operator).status_code == 404
    # The tenant's words are the tenant's: an operator sees them only with `ops:payload` (admins).
    assert {s["task_id"]: s["sub_question"] for s in mine["steps"]}["s2"] == "Who pays acme's rent?"
    assert "acme's rent" not in r.text
    store.operators.grant("ops@example.com", "platform_admin", PlatformActor(name="cli", source_address="cli"))
    admin = http.get("/v1/ops/runs/run-1/costs", headers=_login(http, "ops@example.com")).json()
    assert {s["task_id"]: s["sub_question"] for s in admin["steps"]}["s2"] == "Who pays acme's rent?"
