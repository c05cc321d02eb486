"""One research run end to end: REST + SSE in, cited Markdown, PDF and Word reports out."""

from __future__ import annotations

import io
import json

import pytest
from docx import Document

from devtools.stack import Stack
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, indexed_upload, new_tenant, on_plan

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
QUESTION = "How does the with statement work and what are context managers?"


def test_a_run_completes_with_a_cited_report_and_balanced_credits(stack: Stack, client_factory: ClientFactory) -> None:
    alice = new_tenant(client_factory, "alice")
    run_id = alice.create_run(QUESTION, depth=2, max_sources=6)
    events = list(alice.events(run_id))
    types = [e.event for e in events]
    assert types[-1] == "end", types
    for expected in (
        "run.requested",
        "credits.reserved",
        "run.admitted",
        "tool.requested",
        "tool.decided",
        "run.planned",
        "report.published",
        "run.completed",
        "credits.settled",
        "credits.refunded",
    ):
        assert expected in types, f"{expected} missing from the stream: {types}"
    assert types.index("credits.reserved") < types.index("run.completed") or "run.admitted" in types
    # One trace follows the run across services: the gateway's request span is in every
    # envelope the orchestrator, policy and the workers publish for this run.
    envelopes = [e.json() for e in events if e.event != "end"]
    trace_id = envelopes[0]["trace"]["traceparent"].split("-")[1]
    traced = [ev for ev in envelopes if ev["type"].startswith(("run.", "tool.", "task.", "report."))]
    assert all((ev["trace"]["traceparent"] or "").split("-")[1:2] == [trace_id] for ev in traced), traced[:3]
    ids = [int(e.id) for e in events if e.id]
    assert ids == sorted(ids) and len(ids) == len(set(ids))

    view = alice.run(run_id)
    assert view["state"] == "completed", view.get("error")
    assert view["sources"], "a completed run cites sources"
    assert len(view["sub_questions"]) >= 3
    cost = view["cost"]
    assert cost["reserved"] > 0 and cost["settled"] + cost["refunded"] == cost["reserved"]
    assert cost["settled"] > 0

    md = alice.get(f"/v1/runs/{run_id}/report.md")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "## Sources" in md.text and "[1]" in md.text and QUESTION.split()[0] in md.text
    pdf = alice.get(f"/v1/runs/{run_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    docx = alice.get(f"/v1/runs/{run_id}/report.docx")
    assert docx.status_code == 200 and docx.headers["content-type"].startswith(DOCX)
    paragraphs = Document(io.BytesIO(docx.content)).paragraphs
    headings = [p.text for p in paragraphs if p.style is not None and p.style.name == "Heading 1"]
    assert headings[0] == "Summary" and headings[-2:] == ["Methods", "Sources"]
    assert "## Methods" in md.text and "## Contents" in md.text

    # Reconnecting with Last-Event-ID replays only what came after it.
    middle = events[len(events) // 2]
    rest = list(alice.events(run_id, last_event_id=middle.id))
    replayed = [e.id for e in rest if e.id]
    after = [e.id for e in events[len(events) // 2 + 1 :] if e.id]
    # An event that reached the gateway after the first stream ended (a straggler of its own
    # consumer past the grace, on a loaded machine) is rightly part of the replay too.
    assert replayed[: len(after)] == after and all(int(i) > int(middle.id or 0) for i in replayed)

    listed = alice.get("/v1/runs").json()["runs"]
    assert run_id in [r["run_id"] for r in listed]


def test_another_tenant_sees_nothing(stack: Stack, client_factory: ClientFactory) -> None:
    alice = new_tenant(client_factory, "alice")
    mallory = new_tenant(client_factory, "mallory")
    run_id = alice.create_run("What is a generator in Python?", depth=1, max_sources=3)
    for path in (
        f"/v1/runs/{run_id}",
        f"/v1/runs/{run_id}/events",
        f"/v1/runs/{run_id}/report.md",
        f"/v1/runs/{run_id}/report.pdf",
    ):
        r = mallory.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert run_id not in r.text or "not found" in r.text
    assert mallory.get("/v1/runs").json()["runs"] == []
    wait_for(lambda: alice.run(run_id)["state"] in ("completed", "failed"), what="alice's run to end")


def test_bad_requests_get_clear_errors(stack: Stack, client_factory: ClientFactory) -> None:
    anonymous = client_factory()
    assert anonymous.http.post("/v1/runs", json={"question": "why?"}).status_code == 401
    bob = new_tenant(client_factory, "bob")
    r = bob.http.post("/v1/runs", json={"question": "x", "depth": 9}, headers={"Authorization": f"Bearer {bob.token}"})
    assert r.status_code == 422
    assert "depth" in r.text
    r = bob.http.post(
        "/v1/runs", json={"question": "what is x?", "target_words": 5}, headers={"Authorization": f"Bearer {bob.token}"}
    )
    assert r.status_code == 422 and "target_words" in r.text
    r = bob.http.post("/v1/runs", json={"question": "what?"}, headers={"Authorization": "Bearer forged.token.here"})
    assert r.status_code == 401
    dup = bob.http.post(
        "/v1/auth/signup", json={"email": "x@example.com", "password": "long-enough-1", "tenant_name": "x"}
    )
    assert dup.status_code == 201
    again = bob.http.post(
        "/v1/auth/signup", json={"email": "x@example.com", "password": "long-enough-1", "tenant_name": "x"}
    )
    # A known email is not told apart: same status, same body shape.
    assert again.status_code == 201 and again.json().keys() == dup.json().keys()
    assert bob.http.post("/v1/auth/login", json={"email": "x@example.com", "password": "wrong"}).status_code == 401


def test_a_tenant_document_is_searchable_only_by_its_tenant(stack: Stack, client_factory: ClientFactory) -> None:
    carol = on_plan(new_tenant(client_factory, "carol"), "enterprise")  # reading its own documents: read_dataset
    dave = new_tenant(client_factory, "dave")
    text = (
        "# Zorblax protocol\n\nThe Zorblax protocol synchronises lunar greenhouse irrigation every ninety minutes. "
        "Each Zorblax node measures soil humidity and publishes a moisture digest to its neighbours. "
        "The Zorblax protocol was designed to tolerate dust storms by buffering digests for a week."
    )
    indexed_upload(carol, "Zorblax protocol notes", text)
    run_id = carol.create_run(
        "What is the Zorblax protocol and how does it handle dust storms?", depth=1, max_sources=4
    )
    list(carol.events(run_id))
    view = carol.run(run_id)
    assert view["state"] == "completed", view.get("error")
    assert any("Zorblax" in s["title"] for s in view["sources"])
    md = carol.get(f"/v1/runs/{run_id}/report.md").text
    assert "Zorblax" in md

    other = dave.create_run("What is the Zorblax protocol and how does it handle dust storms?", depth=1, max_sources=4)
    list(dave.events(other))
    view = dave.run(other)
    assert not any("Zorblax" in (s["title"] or "") for s in view["sources"]), json.dumps(view["sources"])
