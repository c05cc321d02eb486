"""Searching the runs list by question and report title, on SQLite and on PostgreSQL, and the
bounds of `GET /v1/runs?q=`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.run_view import fold_run
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.infra


def add_run(store: GatewayStore, tenant_id: str, run_id: str, question: str, title: str | None, minute: int) -> None:
    at = f"2030-01-01T00:{minute:02d}:00+00:00"
    events: list[dict[str, Any]] = [
        {"event_id": f"{run_id}-1", "type": "run.requested", "occurred_at": at, "payload": {"question": question}}
    ]
    if title is not None:
        report = {"title": title, "markdown": {"sha256": "0"}, "pdf": None, "docx": None}
        events.append({"event_id": f"{run_id}-2", "type": "report.published", "occurred_at": at, "payload": report})
        events.append({"event_id": f"{run_id}-3", "type": "run.completed", "occurred_at": at, "payload": {}})
    view = fold_run(events)
    store.db.execute(
        f"INSERT INTO {store.runs} VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, tenant_id, None, view["state"], json.dumps(view), at, at),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayStore]:
    url = request.getfixturevalue("database_url") if request.param == "postgres" else None
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path, database_url=url), "gateway")
    yield GatewayStore(db)
    db.close()


def test_runs_are_found_by_question_or_title_whatever_the_case(store: GatewayStore) -> None:
    add_run(store, "t1", "r1", "How do Python generators work?", "Generators in Python", 1)
    add_run(store, "t1", "r2", "What is asyncio?", "The EVENT loop, explained", 2)
    add_run(store, "t1", "r3", "Rust lifetimes 100% explained_", None, 3)
    add_run(store, "t2", "r4", "How do Python generators work?", None, 4)

    def found(q: str | None, state: str | None = None) -> list[str]:
        return [r["run_id"] for r in store.list_runs("t1", 50, 0, q=q, state=state)]

    assert found(None) == ["r3", "r2", "r1"]
    assert found("python") == ["r1"]  # another tenant's run never
    assert found("event LOOP") == ["r2"]  # the title only
    assert found("GENERATORS") == ["r1"]
    assert found("100%") == ["r3"] and found("%") == ["r3"] and found("_") == ["r3"]  # no wildcards
    assert found("nothing like it") == []
    assert found("python", state="completed") == ["r1"] and found(None, state="requested") == ["r3"]
    listed = store.list_runs("t1", 1, 0, q="asyncio")[0]
    assert listed["title"] == "The EVENT loop, explained" and listed["cost"]["settled"] == 0


def test_the_search_parameter_is_bounded(tmp_path: Path) -> None:
    settings = GatewaySettings(data_dir=tmp_path, web_dist=tmp_path / "none")
    db = SqlDatabase(settings, "gateway")
    gateway = GatewayStore(db)
    parts = Components(settings, gateway, cast(Any, None), RunFeed(), cast(Any, None), MonitorStore(db))
    http = TestClient(create_app(parts))
    try:
        r = http.post(
            "/v1/auth/signup", json={"email": "s@example.com", "password": "long-enough-1", "tenant_name": "s"}
        )
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        tenant = http.get("/v1/auth/me", headers=auth).json()["tenant_id"]
        add_run(gateway, tenant, "r1", "Why is the sky blue?", "Rayleigh scattering", 1)
        assert [x["run_id"] for x in http.get("/v1/runs?q=RAYLEIGH", headers=auth).json()["runs"]] == ["r1"]
        assert http.get("/v1/runs?q=", headers=auth).json()["runs"][0]["run_id"] == "r1"
        assert http.get("/v1/runs", params={"q": "x" * 201}, headers=auth).status_code == 422
        assert http.get("/v1/runs", params={"state": "Robert'); DROP"}, headers=auth).status_code == 422
    finally:
        db.close()
