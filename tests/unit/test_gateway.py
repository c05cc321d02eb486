"""Gateway pieces without I/O: run views, tokens, passwords, settings."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from pydantic import ValidationError

from contracts.billing import Entitlements, EntitlementsQuery
from services.gateway.entitlements import EntitlementsCache
from services.gateway.readmodels.run_view import fold_run, is_settled
from services.gateway.security import InvalidToken, Principal, hash_password, issue_token, read_token, verify_password
from services.gateway.settings import GatewaySettings


def ev(i: int, kind: str, /, **payload: object) -> dict[str, object]:
    return {
        "event_id": f"01a2{i:04d}-0000-7000-8000-000000000000",
        "type": kind,
        "occurred_at": f"t{i:04d}",
        "payload": payload,
    }


RUN = [
    ev(1, "run.requested", question="What is X?", depth=1, max_sources=3),
    ev(2, "credits.reserved", amount=40, balance=460),
    ev(3, "run.admitted", credits_reserved=40),
    ev(4, "run.step_changed", step="plan", status="started", detail=""),
    ev(5, "run.planned", sub_questions=["What is X?", "How is X used?"]),
    ev(6, "task.succeeded", kind="search", output={"passages": [{}, {}, {}]}),
    ev(
        7,
        "task.succeeded",
        kind="synthesise",
        output={"draft": {"sources": [{"number": 1, "source_id": "d", "title": "D", "location": "§1"}]}},
    ),
    ev(8, "report.published", title="X", markdown={"path": "/m"}, pdf={"path": "/p"}),
    ev(9, "run.completed", usage_event_ids=[], sources=1),
    ev(10, "credits.settled", amount=12, usage_event_ids=[], balance=460),
    ev(11, "credits.refunded", amount=28, reason="unused", balance=488),
]


def test_the_view_does_not_depend_on_delivery_order() -> None:
    expected = fold_run(RUN)
    assert expected["state"] == "completed"
    assert expected["cost"] == {"estimate": None, "reserved": 40, "settled": 12, "refunded": 28, "closed": True}
    assert expected["sources"] == [{"number": 1, "source_id": "d", "title": "D", "location": "§1"}]
    assert expected["passages_found"] == 3 and is_settled(expected)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = RUN[:]
        rng.shuffle(shuffled)
        assert fold_run(shuffled) == expected


def test_passages_of_dataset_reads_and_fetched_pages_count_as_found() -> None:
    findings = {"findings": [{"sub_question": "a", "passages": [{}, {}]}, {"sub_question": "b", "passages": [{}]}]}
    view = fold_run(
        [
            *RUN[:6],
            ev(12, "task.succeeded", kind="read", output=findings),
            ev(13, "task.succeeded", kind="fetch", output=findings),
        ]
    )
    assert view["passages_found"] == 3 + 3 + 3


def test_a_refused_fetch_approval_shows_as_refused_and_the_run_goes_on() -> None:
    waiting = ev(12, "run.waiting_approval", approval_id="a1", subject="task:t1", reason="egress", deadline="d")
    view = fold_run([*RUN[:6], waiting, ev(13, "run.resumed", approval_id="a1", approved_by="u", outcome="refused")])
    assert view["approval"]["status"] == "refused" and view["state"] == "running"


def test_a_terminal_state_is_never_overwritten_and_waits_for_billing() -> None:
    view = fold_run([*RUN[:4], ev(5, "run.failed", reason="boom", step="plan")])
    assert view["state"] == "failed" and view["error"] == "boom"
    assert not is_settled(view)
    view = fold_run(
        [ev(1, "run.requested", question="q", depth=1, max_sources=1), ev(2, "run.rejected", reason="short")]
    )
    assert view["state"] == "rejected" and is_settled(view)


KEY = "a-test-secret-of-thirty-two-bytes-or-more"


def test_tokens_round_trip_and_refuse_forgery_and_expiry() -> None:
    who = Principal("u1", "t1", "a@example.com", ("owner",))
    token = issue_token(who, KEY, ttl_s=60)
    assert read_token(token, KEY) == who
    with pytest.raises(InvalidToken):
        read_token(token, "another-secret-of-thirty-two-bytes!!")
    with pytest.raises(InvalidToken):
        read_token(token[:-4] + "AAAA", KEY)
    expired = issue_token(who, KEY, ttl_s=-1)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(expired, KEY)


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not-a-hash", "x")


def test_production_refuses_a_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="QUARRY_JWT_SECRET"):
        GatewaySettings(environment="production")
    assert (
        GatewaySettings(
            environment="production",
            jwt_secret=f"a-real-secret-of-enough-length-{time.time_ns()}",
            secrets_key=f"another-real-secret-of-enough-length-{time.time_ns()}",
        ).environment
        == "production"
    )
    monkeypatch.setenv("QUARRY_HTTP_PORT", "8123")
    assert GatewaySettings().http_port == 8123


def _entitlements(tenant_id: str) -> Entitlements:
    return Entitlements(
        tenant_id=tenant_id,
        plan="free",
        max_depth=2,
        max_sources=8,
        tools=["search"],
        web=False,
        concurrency=2,
        open_runs=0,
        available=500,
        max_datasets=1,
        max_monitors=1,
        max_documents=2,
        max_document_bytes=3000,
    )


async def test_requests_that_find_the_plan_answer_expired_together_wait_for_one_ask_of_billing() -> None:
    asked: list[EntitlementsQuery] = []
    answer, first_asked = asyncio.Event(), asyncio.Event()

    async def ask(query: EntitlementsQuery) -> Entitlements:
        asked.append(query)
        first_asked.set()
        await answer.wait()
        return _entitlements(query.tenant_id)

    cache = EntitlementsCache(ask, ttl_s=5)
    query = EntitlementsQuery(tenant_id="t1", depth=1, max_sources=1)
    waiting = [asyncio.create_task(cache.get(query)) for _ in range(5)]
    await first_asked.wait()
    fresh = asyncio.create_task(cache.get(query, fresh=True))  # a refusal's confirmation asks anew
    answer.set()
    got = await asyncio.gather(*waiting, fresh)
    assert [e.tenant_id for e in got] == ["t1"] * 6
    assert len(asked) == 2
