"""Share links against the real gateway app (SQLite store, a real artifact store, no bus): made
only for a run with a report, shown without an account with the report and its sources only,
revoked at once (through another replica's app on the same store too), tenant-scoped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.run import RunCompleted, RunCompletedPayload, RunRequested, RunRequestedPayload
from contracts.task import TaskSucceeded, TaskSucceededPayload
from contracts.work import Claim, Draft, Section, SourceRef
from quarry_runtime.artifacts import ArtifactStore, report_key
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.markdown import render_markdown
from tests.support.gateway import Caller, signup

QUESTION = "How do Python context managers work?"
DRAFT = Draft(
    title="Context managers in *Python*",
    question=QUESTION,
    summary=[Claim(text="A with statement calls __enter__ and __exit__.", citations=[1])],
    sections=[Section(heading="Protocol", claims=[Claim(text="__exit__ may suppress errors.", citations=[2, 1])])],
    sources=[
        SourceRef(
            number=1,
            source_id="https://docs.python.org/3/reference/compound_stmts.html",
            title="The with statement",
            location="§8.5",
            passage="The with statement is used to wrap the execution of a block with methods [defined] by a context manager.",
        ),
        SourceRef(
            number=2, source_id="doc-42", title="Team notes_v2", location="p. 3", passage="__exit__ returns True"
        ),
    ],
)


# Two replicas of the gateway app on one store, the store, and the artifact store.
Gateway = tuple[TestClient, TestClient, GatewayStore, ArtifactStore]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    settings = GatewaySettings(data_dir=tmp_path, web_dist=tmp_path / "none")
    artifacts = ArtifactStore(tmp_path / "artifacts")
    dbs, clients = [], []
    for _ in range(2):  # two replicas on one store
        db = SqlDatabase(settings, "gateway")
        store = GatewayStore(db)
        parts = Components(settings, store, cast(Any, None), RunFeed(), artifacts, MonitorStore(db))
        dbs.append(db)
        clients.append(TestClient(create_app(parts)))
    yield clients[0], clients[1], GatewayStore(dbs[0]), artifacts
    for db in dbs:
        db.close()


def _run(store: GatewayStore, artifacts: ArtifactStore, who: Caller, *, published: bool) -> str:
    run_id = new_id()
    actor = Actor(user_id=who.user_id, roles=["owner"])
    ids: dict[str, Any] = {"tenant_id": who.tenant_id, "run_id": run_id, "actor": actor}
    events: list[Any] = [
        RunRequested.create(RunRequestedPayload(question=QUESTION, depth=1, max_sources=2), **ids),
        TaskSucceeded.create(
            TaskSucceededPayload(task_id=new_id(), kind="synthesise", output={"draft": DRAFT.model_dump(mode="json")}),
            **ids,
        ),
    ]
    if published:
        markdown = render_markdown(DRAFT, RenderOptions(run_id=run_id, generated_at=datetime.now(UTC))).encode()
        path, sha = artifacts.put(report_key(who.tenant_id, run_id, "md"), markdown)
        artifact = Artifact(path=str(path), sha256=sha, media_type="text/markdown", size=len(markdown))
        events.append(
            ReportPublished.create(
                ReportPublishedPayload(task_id=new_id(), title=DRAFT.title, markdown=artifact, pdf=artifact), **ids
            )
        )
        events.append(RunCompleted.create(RunCompletedPayload(usage_event_ids=[], sources=2), **ids))
    for event in events:
        assert store.record_run_event(event)
    return run_id


def test_a_share_shows_the_report_and_its_sources_and_nothing_else(gateway: Gateway) -> None:
    http, _, store, artifacts = gateway
    alice = signup(http, "alice")
    run_id = _run(store, artifacts, alice, published=True)
    made = alice("POST", f"/v1/runs/{run_id}/shares")
    assert made.status_code == 201, made.text
    share = made.json()
    assert set(share) == {"share_id", "token", "url", "created_at"} and share["url"] == f"/share/{share['token']}"

    public = http.get(f"/v1/shared/{share['token']}")  # no credentials
    assert public.status_code == 200, public.text
    body = public.json()
    assert set(body) == {"question", "title", "completed_at", "report_markdown", "sources"}
    assert body["question"] == QUESTION and body["title"] == DRAFT.title and body["completed_at"]
    assert "with statement calls" in body["report_markdown"] and body["report_markdown"].startswith(
        "# Context managers"
    )
    assert body["sources"] == [
        {
            "n": 1,
            "title": "The with statement",
            "url": "https://docs.python.org/3/reference/compound_stmts.html",
            "passage": DRAFT.sources[0].passage,
        },
        {"n": 2, "title": "Team notes_v2", "url": None, "passage": "__exit__ returns True"},
    ]
    around_the_report = json.dumps({k: v for k, v in body.items() if k != "report_markdown"})
    for private in (run_id, alice.tenant_id, alice.user_id, "alice@example.com"):
        assert private not in around_the_report, private
    assert public.headers["cache-control"] == "no-store" and public.headers["x-robots-tag"] == "noindex"

    listed = alice("GET", f"/v1/runs/{run_id}/shares").json()["shares"]
    assert [s["share_id"] for s in listed] == [share["share_id"]] and share["token"] not in str(listed)
    stored = store.db.query("SELECT token_hash FROM run_shares")
    assert share["token"] not in str(stored)


def test_revocation_applies_at_once_on_every_replica(gateway: Gateway) -> None:
    http, replica, store, artifacts = gateway
    alice = signup(http, "alice")
    run_id = _run(store, artifacts, alice, published=True)
    share = alice("POST", f"/v1/runs/{run_id}/shares").json()
    assert replica.get(f"/v1/shared/{share['token']}").status_code == 200
    assert alice("DELETE", f"/v1/shares/{share['share_id']}").status_code == 204
    for app in (http, replica):
        gone = app.get(f"/v1/shared/{share['token']}")
        assert gone.status_code == 404 and "revoked" in gone.json()["detail"]
    assert alice("GET", f"/v1/runs/{run_id}/shares").json()["shares"] == []
    assert alice("DELETE", f"/v1/shares/{share['share_id']}").status_code == 204  # again: still revoked


def test_shares_are_tenant_scoped_and_need_a_report(gateway: Gateway) -> None:
    http, _, store, artifacts = gateway
    alice, bob = signup(http, "alice"), signup(http, "bob")
    unfinished = _run(store, artifacts, alice, published=False)
    assert alice("POST", f"/v1/runs/{unfinished}/shares").status_code == 409
    run_id = _run(store, artifacts, alice, published=True)
    share = alice("POST", f"/v1/runs/{run_id}/shares").json()
    assert bob("POST", f"/v1/runs/{run_id}/shares").status_code == 404
    assert bob("GET", f"/v1/runs/{run_id}/shares").status_code == 404
    assert bob("DELETE", f"/v1/shares/{share['share_id']}").status_code == 404
    assert http.get(f"/v1/shared/{share['token']}").status_code == 200
    assert http.get("/v1/shared/qs_not-a-real-token").status_code == 404
    assert http.get("/v1/shared/" + "x" * 101).status_code == 422
    assert http.post(f"/v1/runs/{run_id}/shares").status_code == 401
