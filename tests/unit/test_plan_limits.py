"""The plan's limits are checked before the gateway answers (in process: the gateway's app on a
SQLite store, billing's own entitlements query on an in-memory ledger in place of the bus): a
refusal is a 402 or 403 with the reason and publishes nothing. Billing still decides admission."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.billing import Entitlements, EntitlementsQuery
from contracts.envelope import Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.store import SqlDatabase
from services.billing.application import Billing
from services.billing.plans import PLANS
from services.billing.queries import entitlements
from services.gateway.api.deps import Components
from services.gateway.entitlements import EntitlementsCache, run_problem
from services.gateway.errors import Unavailable
from services.gateway.settings import GatewaySettings
from tests.support.gateway import KeptBus, limited_app

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
PASSWORD = "long-enough-password-1"
FREE = PLANS["free"]


@dataclass
class Harness:
    http: TestClient
    bus: KeptBus
    billing: Billing
    asked: list[EntitlementsQuery]
    token: str = ""
    tenant_id: str = ""

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {self.token}"})

    def runs_requested(self) -> list[Event]:
        return [e for e in self.bus.published if isinstance(e, RunRequested)]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    settings = GatewaySettings(data_dir=tmp_path)
    db = SqlDatabase(settings, "gateway")
    billing = Billing(env=POPO)
    asked: list[EntitlementsQuery] = []

    async def ask(query: EntitlementsQuery) -> Entitlements:
        asked.append(query)
        return entitlements(billing, query)

    bus = KeptBus()
    h = Harness(TestClient(limited_app(settings, db, bus, ask)), bus, billing, asked)
    r = h.http.post("/v1/auth/signup", json={"email": "o@acme.example", "password": PASSWORD, "tenant_name": "acme"})
    assert r.status_code == 201, r.text
    h.token, h.tenant_id = r.json()["access_token"], r.json()["tenant_id"]
    yield h
    db.close()


RUN = {"question": "How do generators work?", "depth": 1, "max_sources": 3}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"depth": 3}, "the free plan allows research depth up to 2, not 3"),
        ({"max_sources": 50}, f"the free plan allows up to {FREE.max_sources} sources a run, not 50"),
        ({"sources": ["web"]}, "the free plan does not include web research"),
    ],
)
def test_what_the_plan_does_not_include_is_refused_before_the_202(
    harness: Harness, change: dict[str, Any], reason: str
) -> None:
    r = harness.post("/v1/runs", RUN | change)
    assert r.status_code == 403, r.text
    assert reason in r.json()["detail"]
    assert harness.runs_requested() == []


def test_a_run_past_the_plans_concurrency_is_refused_before_the_202(harness: Harness) -> None:
    for _ in range(FREE.concurrency):  # runs holding credits, as billing admitted them
        harness.billing.admit(
            RunRequested.create(
                RunRequestedPayload(question="q?q", depth=1, max_sources=1),
                tenant_id=harness.tenant_id,
                run_id=new_id(),
            )
        )
    r = harness.post("/v1/runs", RUN)
    assert r.status_code == 403, r.text
    assert (
        f"{FREE.concurrency} runs already hold credits; the free plan allows {FREE.concurrency}" in r.json()["detail"]
    )
    assert harness.runs_requested() == []


def test_a_run_the_credits_cannot_cover_is_402_before_the_202(harness: Harness) -> None:
    harness.billing.take_back(harness.tenant_id, "ch_1", FREE.monthly_credits - 5, cause="evt_refund")
    r = harness.post("/v1/runs", RUN)
    assert r.status_code == 402, r.text
    assert "credits and 5 are available" in r.json()["detail"]
    assert harness.runs_requested() == []


def test_a_run_within_the_plan_is_accepted_and_an_upgrade_counts_at_once(harness: Harness) -> None:
    assert harness.post("/v1/runs", RUN).status_code == 202
    assert harness.post("/v1/runs", RUN | {"depth": 3}).status_code == 403
    harness.billing.subscribe(harness.tenant_id, "pro", cause="evt_sub")
    # The free plan's answer is still cached: a refusal is confirmed on a fresh one first.
    r = harness.post("/v1/runs", RUN | {"depth": 3, "sources": ["web"]})
    assert r.status_code == 202, r.text
    assert len(harness.runs_requested()) == 2


def test_accepted_runs_reuse_a_cached_answer(harness: Harness) -> None:
    for _ in range(3):
        assert harness.post("/v1/runs", RUN).status_code == 202
    assert len(harness.asked) == 1


def test_monitors_are_capped_by_plan_and_fire_only_runs_the_plan_allows(harness: Harness) -> None:
    monitor = {"question": "What changed in Python?", "interval_s": 3600, "depth": 1, "max_sources": 3}
    r = harness.post("/v1/monitors", monitor | {"depth": 3})
    assert r.status_code == 403 and "depth up to 2" in r.json()["detail"], r.text
    for _ in range(FREE.max_monitors):
        assert harness.post("/v1/monitors", monitor).status_code == 202
    r = harness.post("/v1/monitors", monitor)
    assert r.status_code == 403, r.text
    assert f"the free plan allows {FREE.max_monitors} monitors" in r.json()["detail"]
    assert len([e for e in harness.bus.published if e.type == "monitor.created"]) == FREE.max_monitors


def test_datasets_are_capped_by_plan(harness: Harness) -> None:
    for i in range(FREE.max_datasets):
        assert harness.post("/v1/datasets", {"name": f"d{i}"}).status_code == 201
    r = harness.post("/v1/datasets", {"name": "one-more"})
    assert r.status_code == 403, r.text
    assert f"the free plan allows {FREE.max_datasets} datasets" in r.json()["detail"]


def test_billing_still_denies_a_run_its_plan_does_not_allow() -> None:
    app = Billing(env=POPO)
    run = RunRequested.create(
        RunRequestedPayload(question="q?q", depth=3, max_sources=1), tenant_id="t1", run_id=new_id()
    )
    app.admit(run)
    ledger = app.ledger("t1")
    assert run.run_id in ledger.denied_runs and not ledger.reservations
    web = RunRequested.create(
        RunRequestedPayload(question="q?q", depth=1, max_sources=1, sources=["web"]), tenant_id="t1", run_id=new_id()
    )
    app.admit(web)
    assert web.run_id in app.ledger("t1").denied_runs


def test_uploads_are_held_to_the_plans_quota_of_documents_and_bytes(harness: Harness) -> None:
    quota = entitlements(harness.billing, EntitlementsQuery(tenant_id=harness.tenant_id))
    small = quota.model_copy(update={"max_documents": 2, "max_document_bytes": 3000})

    async def ask(query: EntitlementsQuery) -> Entitlements:
        return small

    parts: Components = harness.http.app.state.components  # type: ignore[attr-defined]
    parts.entitlements = EntitlementsCache(ask, ttl_s=60)
    assert harness.post("/v1/datasets", {"name": "docs"}).status_code == 201
    doc = {"title": "A", "content": "x" * 1000}
    assert harness.post("/v1/datasets/docs/documents", doc).status_code == 202
    r = harness.post("/v1/datasets/docs/documents", doc | {"content": "x" * 2500})
    assert r.status_code == 413, r.text
    assert "would take the tenant's documents to 3500 bytes; the free plan keeps 3000" in r.json()["detail"]
    assert harness.post("/v1/documents", doc).status_code == 202  # the corpus's uploads count too
    r = harness.post("/v1/datasets/docs/documents", doc)
    assert r.status_code == 403, r.text
    assert "the free plan keeps 2 documents and the tenant has 2" in r.json()["detail"]
    uploads = [e for e in harness.bus.published if e.type == "document.uploaded"]
    assert len(uploads) == 2


def test_every_plan_names_its_upload_quotas() -> None:
    for plan in PLANS.values():
        assert plan.max_documents > 0 and plan.max_document_bytes > 0
    assert PLANS["free"].max_document_bytes < PLANS["pro"].max_document_bytes < PLANS["enterprise"].max_document_bytes


async def test_a_silent_billing_costs_one_time_out_and_leaves_admission_to_billing() -> None:
    asked: list[EntitlementsQuery] = []
    now = [100.0]

    async def ask(query: EntitlementsQuery) -> Entitlements:
        asked.append(query)
        raise Unavailable("billing did not answer (TimeoutError)")

    cache = EntitlementsCache(ask, ttl_s=5, clock=lambda: now[0])
    query = EntitlementsQuery(tenant_id="t1", depth=3, max_sources=50)
    for _ in range(3):  # accepted (billing's admission decides), asked once
        await cache.check(query, run_problem(3, 50, ["web"]))
    assert len(asked) == 1
    now[0] += 5
    await cache.check(query, run_problem(3, 50, ["web"]))
    assert len(asked) == 2


def test_a_run_reads_the_tenants_uploads_by_default_only_when_there_are_some_its_plan_may_read(
    harness: Harness,
) -> None:
    def sources_of_last_run() -> list[str] | None:
        sources: list[str] | None = harness.runs_requested()[-1].payload.sources
        return sources

    assert harness.post("/v1/runs", RUN).status_code == 202
    assert sources_of_last_run() == ["corpus"]  # nothing uploaded: no read of nothing to ask policy for
    assert harness.post("/v1/documents", {"title": "A", "content": "generators " * 50}).status_code == 202
    assert harness.post("/v1/runs", RUN).status_code == 202
    assert sources_of_last_run() == ["corpus"]  # the free plan has no read_dataset
    harness.billing.subscribe(harness.tenant_id, "enterprise", cause="evt_sub")
    # Answers are kept per run shape for a few seconds: a shape not asked about yet sees the upgrade.
    assert harness.post("/v1/runs", RUN | {"max_sources": 4}).status_code == 202
    assert sources_of_last_run() == ["corpus", "datasets"]
    assert harness.post("/v1/runs", RUN | {"sources": ["datasets"]}).status_code == 202
    assert sources_of_last_run() == ["datasets"]  # a choice someone made stays as made
