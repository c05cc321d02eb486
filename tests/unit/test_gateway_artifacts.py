"""Report downloads open the place the tenant and run ids name, never a path from an event: a
forged `report.published` cannot make the gateway serve another tenant's report or any file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.run import RunRequested, RunRequestedPayload
from quarry_runtime.artifacts import ArtifactStore, report_key
from quarry_runtime.store import SqlDatabase
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings
from tests.support.gateway import Caller, signup


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[TestClient, GatewayStore, ArtifactStore]]:
    settings = GatewaySettings(data_dir=tmp_path)
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    artifacts = ArtifactStore(tmp_path / "artifacts")
    parts = Components(settings, store, cast(Any, None), RunFeed(), artifacts, MonitorStore(db))
    yield TestClient(create_app(parts)), store, artifacts
    db.close()


def _published(store: GatewayStore, who: Caller, run_id: str, path: str, sha256: str) -> None:
    """A run of `who`'s tenant whose report event claims the markdown is at `path`."""
    actor = Actor(user_id=who.user_id, roles=["owner"])
    requested = RunRequested.create(
        RunRequestedPayload(question="What is X?", depth=1, max_sources=1),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=actor,
    )
    artifact = Artifact(path=path, sha256=sha256, media_type="text/markdown", size=1)
    report = ReportPublished.create(
        ReportPublishedPayload(task_id=new_id(), title="X", markdown=artifact, pdf=artifact),
        tenant_id=who.tenant_id,
        run_id=run_id,
        actor=actor,
    )
    assert store.record_run_event(requested) and store.record_run_event(report)


def test_a_forged_report_path_serves_neither_another_tenants_report_nor_any_file(
    gateway: tuple[TestClient, GatewayStore, ArtifactStore], tmp_path: Path
) -> None:
    http, store, artifacts = gateway
    alice, bob = signup(http, "alice"), signup(http, "bob")
    bobs_run = new_id()
    secret = b"# Bob's confidential report\n"
    bobs_path, bobs_hash = artifacts.put(report_key(bob.tenant_id, bobs_run, "md"), secret)
    _published(store, bob, bobs_run, str(bobs_path), bobs_hash)
    assert bob("GET", f"/v1/runs/{bobs_run}/report.md").content == secret

    # Alice's run claims Bob's file (with its true hash): she gets a 404, not Bob's report.
    stolen = new_id()
    _published(store, alice, stolen, str(bobs_path), bobs_hash)
    r = alice("GET", f"/v1/runs/{stolen}/report.md")
    assert r.status_code == 404 and secret not in r.content

    # A path out of the store altogether: 404 as well (not a 500, and the file is not read).
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not an artifact")
    for path in (str(outside), "../outside.txt", f"{artifacts.root}/../outside.txt"):
        escaped = new_id()
        _published(store, alice, escaped, path, hashlib.sha256(b"not an artifact").hexdigest())
        r = alice("GET", f"/v1/runs/{escaped}/report.md")
        assert r.status_code == 404 and b"not an artifact" not in r.content


def test_the_report_is_read_from_its_ids_whatever_path_the_event_gives(
    gateway: tuple[TestClient, GatewayStore, ArtifactStore],
) -> None:
    http, store, artifacts = gateway
    alice = signup(http, "alice")
    run_id = new_id()
    body = b"# Alice's report\n"
    _, digest = artifacts.put(report_key(alice.tenant_id, run_id, "md"), body)
    _published(store, alice, run_id, "/somewhere/else/report.md", digest)
    r = alice("GET", f"/v1/runs/{run_id}/report.md")
    assert r.status_code == 200 and r.content == body
    # A file that is not the published one (its hash differs) is not served.
    artifacts.put(report_key(alice.tenant_id, run_id, "md"), b"# swapped\n")
    assert alice("GET", f"/v1/runs/{run_id}/report.md").status_code == 404


@pytest.mark.parametrize("bad", ["", "..", "../x", "a/b", "a\\b", "x" * 65])
def test_a_report_key_refuses_what_is_not_an_id(bad: str) -> None:
    with pytest.raises(ValueError):
        report_key(bad, "run", "md")
    with pytest.raises(ValueError):
        report_key("tenant", bad, "md")
