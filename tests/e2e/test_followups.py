"""Follow-up questions end to end: a completed run's memory answers, streamed over SSE, with
citations that resolve to what the run indexed; other tenants and unfinished runs are refused."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.client import QuarryClient, SseEvent, parse_sse
from devtools.stack import Stack
from tests.support.polling import wait_for
from tests.support.stack import ClientFactory, completed_run, new_tenant

pytestmark = [pytest.mark.e2e, pytest.mark.infra]

QUESTION = "How does the with statement work and what are context managers?"
FOLLOW_UP = "What does the with statement call when the block ends?"


def stream(client: QuarryClient, path: str, timeout: float = 120.0) -> Iterator[SseEvent]:
    with client.http.stream("GET", path, headers={"Authorization": f"Bearer {client.token}"}, timeout=timeout) as r:
        r.raise_for_status()
        yield from parse_sse(r.iter_lines())


def ask(client: QuarryClient, run_id: str, question: str = FOLLOW_UP, **extra: Any) -> dict[str, Any]:
    r = client.request("POST", f"/v1/runs/{run_id}/questions", json={"question": question, **extra})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def answered(client: QuarryClient, accepted: dict[str, Any]) -> tuple[list[SseEvent], dict[str, Any]]:
    """The question's stream read to its end: its events, and the final answer's view."""
    events = list(stream(client, accepted["links"]["events"]))
    kinds = [e.event for e in events]
    assert kinds[-2:] == ["answered", "end"], [(e.event, e.data[:200]) for e in events[-3:]]
    final: dict[str, Any] = events[-2].json()
    return events, final


def check_cites_the_run(final: dict[str, Any], run_id: str) -> None:
    """Every `[n]` names a citation, and every citation is a chunk of the run's own memory whose
    passage holds the sentence citing it (the answer quotes what the run found)."""
    by_number = {c["number"]: c for c in final["citations"]}
    assert by_number, final
    for sentence, number in re.findall(r"(.+?) \[(\d+)\]", final["answer"]):
        cited = by_number[int(number)]
        assert cited["run_id"] == run_id and cited["memory_id"].startswith(f"run:{run_id}:"), cited
        assert sentence.strip().rstrip(".") in " ".join(cited["passage"].split()), (sentence, cited["passage"])


def test_a_follow_up_is_streamed_and_cites_the_run_s_memory(
    stack: Stack, client_factory: Callable[[], QuarryClient]
) -> None:
    alice = new_tenant(client_factory, "alice")
    run_id = completed_run(alice, QUESTION)
    run_title = alice.get(f"/v1/runs/{run_id}/report.md").text.splitlines()[0].lstrip("# ").strip()

    accepted = ask(alice, run_id)
    qid = accepted["question_id"]
    assert accepted["links"]["self"] == f"/v1/runs/{run_id}/questions/{qid}"
    events, final = answered(alice, accepted)
    parts = [e for e in events if e.event == "part"]
    assert parts, "the answer arrives in parts before the whole"
    assert [int(e.id or -1) for e in parts] == list(range(len(parts)))
    assert "".join(e.json()["text"] for e in parts) == final["answer"]
    assert final["status"] == "answered" and final["question"] == FOLLOW_UP and final["scope"] == "run"
    check_cites_the_run(final, run_id)
    assert all(c["title"].startswith(run_title) for c in final["citations"]), (run_title, final["citations"])

    # Billing held credits for the question and settled them against its usage: the entries name
    # the question and the run it asks about, and nothing stays held.
    def question_closed() -> list[dict[str, Any]] | None:
        recent = alice.get("/v1/billing/summary?recent=50").json()["recent"]
        mine = [e for e in recent if e.get("question_id") == qid]
        return mine if {"reserved", "settled", "refunded"} <= {e["kind"] for e in mine} else None

    entries = {e["kind"]: e for e in wait_for(question_closed, 60, "billing to settle the question")}
    assert all(e["run_id"] == run_id for e in entries.values())
    assert entries["settled"]["amount"] + entries["refunded"]["amount"] == entries["reserved"]["amount"] > 0
    assert entries["settled"]["usage_event_ids"] and entries["reserved"]["actor"].startswith("user:")

    # The answer so far is the answer once it is in, and the run lists its questions.
    got = alice.get(f"/v1/runs/{run_id}/questions/{qid}").json()
    assert got["answer"] == final["answer"] and got["citations"] == final["citations"]
    assert [q["question_id"] for q in alice.get(f"/v1/runs/{run_id}/questions").json()["questions"]] == [qid]
    # Reconnecting after the last part replays only the end.
    with alice.http.stream(
        "GET",
        accepted["links"]["events"],
        headers={"Authorization": f"Bearer {alice.token}", "Last-Event-ID": parts[-1].id or ""},
    ) as r:
        assert [e.event for e in parse_sse(r.iter_lines())] == ["answered", "end"]

    # A member may ask too, and the tenant's whole memory can be asked; a viewer reads but does not
    # spend, so it may not ask.
    invited = alice.invite(f"member-{uuid.uuid4().hex[:6]}@example.com", "member")
    member = client_factory()
    member.accept(invited["invite_token"], "correct-horse-battery")
    _, wide = answered(member, ask(member, run_id, "What are context managers used for?", scope="tenant"))
    assert wide["scope"] == "tenant" and wide["citations"] and wide["asked_by"] == invited["user_id"]
    assert all(c["memory_id"].startswith("run:") for c in wide["citations"])
    invited = alice.invite(f"viewer-{uuid.uuid4().hex[:6]}@example.com", "viewer")
    viewer = client_factory()
    viewer.accept(invited["invite_token"], "correct-horse-battery")
    refused = viewer.request("POST", f"/v1/runs/{run_id}/questions", json={"question": "And what else?"})
    assert refused.status_code == 403, refused.text
    assert viewer.request("GET", f"/v1/runs/{run_id}/questions").status_code == 200


def test_other_tenants_unfinished_runs_and_bad_input_are_refused(stack: Stack, client_factory: ClientFactory) -> None:
    alice = new_tenant(client_factory, "alice")
    bob = new_tenant(client_factory, "bob")
    run_id = completed_run(alice, "What is a Python generator?")
    accepted = ask(alice, run_id, "What does a generator yield?")
    qid = accepted["question_id"]
    answered(alice, accepted)

    # Another tenant: the run and its questions do not exist.
    r = bob.request("POST", f"/v1/runs/{run_id}/questions", json={"question": FOLLOW_UP})
    assert r.status_code == 404 and run_id not in r.text
    for path in (f"/v1/runs/{run_id}/questions", f"/v1/runs/{run_id}/questions/{qid}"):
        assert bob.request("GET", path).status_code == 404, path
    assert bob.request("GET", f"/v1/runs/{run_id}/questions/{qid}/events").status_code == 404
    # Nor can bob reach alice's question through a run of his own.
    own = bob.create_run("What is a Python list?", depth=1, max_sources=1)
    assert bob.request("GET", f"/v1/runs/{own}/questions/{qid}").status_code == 404

    # A run still in progress has no memory to answer from yet.
    busy = alice.create_run("What is a Python coroutine?", depth=1, max_sources=1)
    r = alice.request("POST", f"/v1/runs/{busy}/questions", json={"question": FOLLOW_UP})
    assert r.status_code == 409 and "completed" in r.text
    assert alice.request("POST", f"/v1/runs/{uuid.uuid4()}/questions", json={"question": FOLLOW_UP}).status_code == 404

    for body in ({"question": "   \n  "}, {"question": "ok"}, {"question": FOLLOW_UP, "scope": "world"}, {}):
        assert alice.request("POST", f"/v1/runs/{run_id}/questions", json=body).status_code == 422, body
    wait_for(lambda: alice.run(busy)["state"] == "completed", timeout_s=180, what="the second run to finish")
