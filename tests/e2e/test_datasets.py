"""Datasets end to end: a PDF and a Markdown file uploaded into two datasets, indexed with visible
progress; a run restricted to one dataset cites only it; another tenant can neither see nor use them."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.client import QuarryClient
from devtools.stack import Stack
from tests.fakes.pdf import pdf_of
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, new_tenant, on_plan

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

TIDES = [
    "Quillfeather tidal turbines convert the kinetic energy of moving seawater into electricity. "
    "Each Quillfeather turbine has three rotor blades mounted on a seabed frame.",
    "Barnacle fouling on Quillfeather rotor blades reduces turbine efficiency by about four percent a year. "
    "Barnacle fouling grows fastest in warm summer water near the surface.",
    "Maintenance crews remove barnacle fouling from Quillfeather blades during slack water, "
    "when the tidal current stops for about an hour.",
]
NOTES = """# Barnacle fouling on ship hulls

Barnacle fouling on ship hulls raises drag and fuel use. Hull coatings slow barnacle fouling.

## Cleaning

Divers clean barnacle fouling from hulls in dry dock or with brush carts.
"""


def documents(client: QuarryClient, dataset: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/datasets/{dataset}/documents")
    assert r.status_code == 200, r.text
    docs: list[dict[str, Any]] = r.json()["documents"]
    return docs


def upload(client: QuarryClient, dataset: str, name: str, data: bytes, media: str) -> dict[str, Any]:
    r = client.request("POST", f"/v1/datasets/{dataset}/files", files={"file": (name, data, media)})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_run_restricted_to_a_dataset_cites_only_that_dataset(stack: Stack, client_factory: ClientFactory) -> None:
    alice = on_plan(new_tenant(client_factory, "alice"), "enterprise")  # read_dataset: paid plans, no approval
    for name in ("turbines", "hulls"):
        assert alice.request("POST", "/v1/datasets", json={"name": name}).status_code == 201
    assert alice.request("POST", "/v1/datasets", json={"name": "turbines"}).status_code == 409
    assert alice.request("POST", "/v1/datasets", json={"name": "Not A Name!"}).status_code == 422

    pdf = upload(
        alice, "turbines", "quillfeather.pdf", pdf_of("Quillfeather turbine field notes", TIDES), "application/pdf"
    )
    assert pdf["content_type"] == "application/pdf" and pdf["status"] == "queued"
    md = upload(alice, "hulls", "hulls.md", NOTES.encode(), "text/markdown")
    assert md["content_type"] == "text/markdown"
    # Refused with a reason, before anything is queued.
    bad = alice.request("POST", "/v1/datasets/hulls/files", files={"file": ("x.pdf", b"not a pdf", "application/pdf")})
    assert bad.status_code == 415 and "PDF" in bad.text
    assert (
        alice.request("POST", "/v1/datasets/hulls/files", files={"file": ("e.txt", b"", "text/plain")}).status_code
        == 415
    )
    assert alice.request("POST", "/v1/datasets/nowhere/files", files={"file": ("a.txt", b"x", None)}).status_code == 404

    def indexed(dataset: str) -> list[dict[str, Any]] | None:
        docs = documents(alice, dataset)
        return docs if docs and all(d["status"] == "indexed" for d in docs) else None

    [pdf_row] = wait_for(lambda: indexed("turbines"), timeout_s=120, what="the PDF to be indexed")
    assert pdf_row["document_id"] == pdf["document_id"] and pdf_row["pages"] == 3
    assert pdf_row["chunks_done"] == pdf_row["chunks_total"] >= 3 and pdf_row["reason"] is None
    [md_row] = wait_for(lambda: indexed("hulls"), timeout_s=120, what="the Markdown file to be indexed")
    assert md_row["title"] == "hulls" and md_row["chunks_total"] >= 1
    listed = {d["name"]: d for d in alice.get("/v1/datasets").json()["datasets"]}
    assert listed["turbines"]["by_status"] == {"indexed": 1} and listed["hulls"]["documents"] == 1

    question = "How does barnacle fouling affect Quillfeather turbine blades and how is it removed?"
    r = alice.request(
        "POST", "/v1/runs", json={"question": question, "depth": 1, "max_sources": 4, "datasets": ["turbines"]}
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    view = wait_for(
        lambda: (v := alice.run(run_id))["state"] in ("completed", "failed") and v, timeout_s=180, what="the run"
    )
    assert view["state"] == "completed", view.get("error")
    assert view["sources"], "the run cites sources"
    for source in view["sources"]:
        assert source["source_id"] == pdf["document_id"], source
        assert source["location"].startswith("page "), source

    # Deleting a dataset takes its documents with it, and a run can no longer name it.
    assert alice.request("DELETE", "/v1/datasets/hulls").status_code == 202
    assert "hulls" not in {d["name"] for d in alice.get("/v1/datasets").json()["datasets"]}
    assert alice.get("/v1/datasets/hulls/documents").status_code == 404
    r = alice.request("POST", "/v1/runs", json={"question": question, "datasets": ["hulls"]})
    assert r.status_code == 422 and "hulls" in r.text
    r = alice.request("POST", "/v1/runs", json={"question": question, "datasets": ["turbines"], "sources": ["web"]})
    assert r.status_code == 422

    # Another tenant sees none of it and cannot use it.
    mallory = new_tenant(client_factory, "mallory")
    assert mallory.get("/v1/datasets").json()["datasets"] == []
    for method, path in (
        ("GET", "/v1/datasets/turbines/documents"),
        ("DELETE", "/v1/datasets/turbines"),
    ):
        r = mallory.request(method, path)
        assert r.status_code == 404 and pdf["document_id"] not in r.text, (method, path, r.status_code)
    r = mallory.request("POST", "/v1/datasets/turbines/files", files={"file": ("m.txt", b"mine now", "text/plain")})
    assert r.status_code == 404
    r = mallory.request("POST", "/v1/runs", json={"question": question, "datasets": ["turbines"]})
    assert r.status_code == 422
    # Her own dataset of the same name is hers alone: empty, and a run in it finds nothing of alice's.
    assert mallory.request("POST", "/v1/datasets", json={"name": "turbines"}).status_code == 201
    assert documents(mallory, "turbines") == []
    assert [d["name"] for d in alice.get("/v1/datasets").json()["datasets"]] == ["turbines"]


def test_a_free_plan_run_never_reads_a_dataset(stack: Stack, client_factory: ClientFactory) -> None:
    """read_dataset is not on the free plan: the read is denied by policy, the dataset never searched."""
    frank = new_tenant(client_factory, "frank")
    assert frank.request("POST", "/v1/datasets", json={"name": "turbines"}).status_code == 201
    doc = upload(
        frank, "turbines", "quillfeather.pdf", pdf_of("Quillfeather turbine field notes", TIDES), "application/pdf"
    )
    wait_for(
        lambda: [d for d in documents(frank, "turbines") if d["status"] == "indexed"],
        timeout_s=120,
        what="the PDF to be indexed",
    )
    question = "How does barnacle fouling affect Quillfeather turbine blades and how is it removed?"
    r = frank.request("POST", "/v1/runs", json={"question": question, "depth": 1, "datasets": ["turbines"]})
    if r.status_code in (402, 403):  # the gateway may refuse the plan's missing entitlement up front
        return
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    view = wait_for(
        lambda: (v := frank.run(run_id))["state"] in ("completed", "failed") and v, timeout_s=180, what="the run"
    )
    assert view["state"] == "failed" and "read_dataset" in (view.get("error") or ""), view.get("error")
    assert all(s["source_id"] != doc["document_id"] for s in view["sources"])

    def read_denied() -> bool:
        log = frank.get(f"/v1/runs/{run_id}/log").json()["events"]
        decided = [e["event"]["payload"] for e in log if e["event"]["type"] == "tool.decided"]
        return any(d["tool"] == "read_dataset" and d["decision"] == "deny" for d in decided)

    # The log is fed by another consumer than the view, so it may lag the view by a moment.
    wait_for(read_denied, timeout_s=30, what="the read_dataset denial in the run's log")
