"""Billing on a real JetStream, driven through the gateway's API: the summary page field by field,
a free tenant's follow-up denied for want of credits, and plan limits answered over the bus."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contracts.envelope import Actor
from contracts.question import QuestionAnswered, QuestionAnsweredPayload, QuestionAsked, QuestionAskedPayload
from contracts.run import RunCompleted, RunCompletedPayload, RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.bus import Bus, Subscription
from services.billing.bootstrap import BillingSettings
from services.billing.plans import PLANS, estimate_question, estimate_run
from tests.support.billing import Owner, signup
from tests.support.polling import eventually
from tests.support.services import billing_service

pytestmark = pytest.mark.infra

FREE = PLANS["free"].monthly_credits


async def test_the_summary_shows_each_field_the_issue_lists(
    nats_url: str, billing_settings: BillingSettings, gateway: httpx.AsyncClient
) -> None:
    """`GET /v1/billing/summary` field by field: plan (credits, tools, concurrency, overage),
    period, balance, reserved, used by tool and by run, recent entries, budget tier, and the
    period's overage priced by the tiered rates once it crosses 500k and then 2M tokens."""
    bus = Bus(nats_url, "billing-summary-test")
    await bus.start()
    try:
        async with billing_service(billing_settings):
            owner = await signup(gateway)
            r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="pro")
            assert r.status_code == 201, r.text
            pro = PLANS["pro"]
            cap = estimate_run(3, 50)
            charged: dict[str, int] = {}

            async def settled() -> dict[str, Any] | None:
                s = (await owner.get("/v1/billing/summary", params={"recent": 100})).json()
                return s if set(s["used_by_run"]) == set(charged) else None

            async def run(credits: int, searches: int = 0) -> RunRequested:
                """A run that settles `credits` of model tokens (and `searches` web searches)."""
                req = RunRequested.create(
                    RunRequestedPayload(question="how do tides work?", depth=3, max_sources=50),
                    tenant_id=owner.tenant_id,
                    run_id=str(uuid.uuid4()),
                    actor=Actor(user_id="u-summary"),
                )
                uses = [
                    UsageRecorded.caused_by(
                        req,
                        UsageRecordedPayload(
                            task_id="synth", kind="synthesise", tool="llm_generate", tokens_in=credits * 1000
                        ),
                        name="u0",
                    )
                ]
                if searches:
                    payload = UsageRecordedPayload(task_id="s", kind="search", tool="web_search", search_calls=searches)
                    uses.append(UsageRecorded.caused_by(req, payload, name="u1"))
                for ev in (req, *uses):
                    await bus.publish(ev)
                done = RunCompleted.caused_by(
                    req, RunCompletedPayload(usage_event_ids=[u.event_id for u in uses], sources=0)
                )
                await bus.publish(done)
                charged[req.run_id or ""] = credits + 2 * searches
                # One at a time: the plan's concurrency (halved once throttled) would refuse a burst.
                await eventually(settled, 30, f"run {req.run_id} to settle")
                return req

            first = await run(cap - 4, searches=2)
            spent = cap
            while spent < pro.monthly_credits + 600:  # 600k tokens of overage: 500k at 0.012, 100k at 0.008
                take = min(cap, pro.monthly_credits + 600 - spent)
                await run(take)
                spent += take
            s = await eventually(settled, 30, "the runs to settle")
            assert s["overage"] == {"credits": 600, "tokens": 600_000, "amount_usd": "6.80"}

            # A follow-up question on the first run, asked through the API: held when asked,
            # charged its usage when answered; its entries name the question and the run.
            await eventually(lambda: owner.completed(first.run_id), 30, "the gateway to show the first run completed")
            r = await owner.post(f"/v1/runs/{first.run_id}/questions", {"question": "and at neap tide?"})
            assert r.status_code == 202, r.text
            question_id = r.json()["question_id"]
            asked = QuestionAsked.create(
                QuestionAskedPayload(question_id=question_id, run_id=first.run_id or "", text="and at neap tide?"),
                tenant_id=owner.tenant_id,
                run_id=question_id,
            )  # stands in for the orchestrator: the usage and the answer correlate by the question id
            recall = UsageRecorded.caused_by(
                asked, UsageRecordedPayload(task_id="r", kind="recall", tool="recall_memory", search_calls=2), name="q"
            )
            await bus.publish(recall)
            answer = QuestionAnsweredPayload(
                question_id=question_id,
                run_id=first.run_id or "",
                answer="lower [1]",
                citations=[],
                usage_event_ids=[recall.event_id],
            )
            await bus.publish(QuestionAnswered.caused_by(asked, answer))
            charged[first.run_id or ""] += 2  # recall_memory: 1 credit per search
            spent += 2

            async def answered_and_charged() -> dict[str, Any] | None:
                # Metered is not yet settled: the answer may have overtaken its question and
                # wait for a redelivery, so wait for the question's release of what was left too.
                s = await settled()
                if not s or s["used_by_run"][first.run_id] != charged[first.run_id or ""]:
                    return None
                released = any(e["kind"] == "refunded" and e["question_id"] == question_id for e in s["recent"])
                return s if released else None

            await eventually(answered_and_charged, 30, "the question to be charged")

            while spent < pro.monthly_credits + 2_600:  # 2.6M: 1.5M more at 0.008 to 2M, 600k at 0.005
                take = min(cap, pro.monthly_credits + 2_600 - spent)
                await run(take)
                spent += take

            held = RunRequested.create(
                RunRequestedPayload(question="still running?", depth=1, max_sources=5),
                tenant_id=owner.tenant_id,
                run_id=str(uuid.uuid4()),
            )
            await bus.publish(held)

            async def held_too() -> dict[str, Any] | None:
                s = await settled()
                return s if s and s["reserved"] else None

            s = await eventually(held_too, 30, "every run to settle and the last one to hold credits")
            assert s["tenant_id"] == owner.tenant_id
            assert s["plan"] == {
                "name": "pro",
                "monthly_credits": pro.monthly_credits,
                "concurrency": pro.concurrency,
                "overage": True,
                "tools": sorted(pro.tools),
            }
            assert s["period"] == datetime.now(UTC).strftime("%Y-%m")
            assert s["budget"] == pro.monthly_credits
            assert s["reserved"] == estimate_run(1, 5)
            assert s["balance"] == pro.monthly_credits - sum(charged.values()) - estimate_run(1, 5)
            assert s["used_by_tool"] == {"llm_generate": sum(charged.values()) - 6, "recall_memory": 2, "web_search": 4}
            assert s["used_by_run"] == charged and s["used_by_run"][first.run_id] == cap + 2
            assert s["tier"] == "block" and s["used_pct"] == 100
            assert s["overage"] == {"credits": 2_600, "tokens": 2_600_000, "amount_usd": "21.00"}
            assert s["stripe_mode"] == "mock"
            recent = s["recent"]
            assert [e["seq"] for e in recent] == sorted((e["seq"] for e in recent), reverse=True)
            # The held run's reservation is the newest entry that moves credits (under load an
            # entry of amount 0, a release of nothing, was once ordered after it).
            at = next((i for i, e in enumerate(recent) if e["kind"] == "reserved" and e["run_id"] == held.run_id), None)
            assert at is not None, f"{held.run_id}: " + " | ".join(
                f"{e['seq']} {e['kind']} {e['amount']} run={e['run_id']} q={e['question_id']} cause={e['cause']}"
                for e in recent[:6]
            )
            assert all(e["amount"] == 0 for e in recent[:at]), recent[: at + 1]
            assert recent[at]["cause"] == held.event_id
            settlements = [e for e in recent if e["kind"] == "settled"]
            assert {e["run_id"] for e in settlements} <= set(charged) and settlements
            assert all(e["usage_event_ids"] and e["actor"] for e in settlements)
            mine = next(e for e in recent if e["kind"] == "settled" and e["run_id"] == first.run_id)
            assert (mine["amount"], mine["question_id"], len(mine["usage_event_ids"])) == (2, question_id, 1)
            held_for_question = next(e for e in recent if e["kind"] == "reserved" and e["question_id"] == question_id)
            assert held_for_question["run_id"] == first.run_id and held_for_question["actor"].startswith("user:")
            assert held_for_question["amount"] == estimate_question()
            theirs = [
                e for e in recent if e["kind"] == "settled" and e["run_id"] == first.run_id and not e["question_id"]
            ]
            assert [(e["amount"], len(e["usage_event_ids"])) for e in theirs] == [(cap, 2)]
            # The ledger pages page the same entries, oldest first.
            page = (await owner.get("/v1/billing/ledger", params={"limit": 500})).json()
            assert [e["seq"] for e in page["entries"]][-len(recent) :] == [e["seq"] for e in recent][::-1]
    finally:
        await bus.stop()


async def test_a_free_tenant_without_credits_left_is_denied_a_follow_up(
    nats_url: str, billing_settings: BillingSettings, gateway: httpx.AsyncClient
) -> None:
    """A question the balance cannot cover is denied on the bus (the orchestrator then ends it
    before any tool runs): the free plan has no overage, so its follow-ups are not free."""
    bus = Bus(nats_url, f"billing-denial-{uuid.uuid4().hex[:6]}")
    seen: list[Any] = []
    owner_box: list[Owner] = []

    async def collect(ev: Any) -> None:
        if owner_box and ev.tenant_id == owner_box[0].tenant_id:
            seen.append(ev)

    bus.subscribe(Subscription("credits.>", bus.service, collect))
    await bus.start()
    try:
        async with billing_service(billing_settings):
            owner = await signup(gateway)
            owner_box.append(owner)
            await eventually(lambda: owner.has_balance(FREE), 30, "the free plan's credits")

            async def spend(depth: int, max_sources: int, credits: int) -> RunRequested:
                req = RunRequested.create(
                    RunRequestedPayload(question="how do tides work?", depth=depth, max_sources=max_sources),
                    tenant_id=owner.tenant_id,
                    run_id=str(uuid.uuid4()),
                )
                use = UsageRecorded.caused_by(
                    req,
                    UsageRecordedPayload(task_id="s", kind="synthesise", tool="llm_generate", tokens_in=credits * 1000),
                    name="u0",
                )
                await bus.publish(req)
                await bus.publish(use)
                await bus.publish(
                    RunCompleted.caused_by(req, RunCompletedPayload(usage_event_ids=[use.event_id], sources=0))
                )
                return req

            # Two runs that leave the tenant 7 credits: less than a question's estimate. (A run is
            # charged its usage, past its estimate too, down to the plan's floor.)
            first_estimate = estimate_run(2, 10)
            first = await spend(2, 10, first_estimate)
            await eventually(lambda: owner.has_balance(FREE - first_estimate), 30, "the first run to settle")
            need = FREE - first_estimate - 7
            await spend(2, 10, need)
            await eventually(lambda: owner.has_balance(7), 30, "the second run to settle")

            await eventually(lambda: owner.completed(first.run_id), 30, "the gateway to show the first run completed")
            r = await owner.post(f"/v1/runs/{first.run_id}/questions", {"question": "and at neap tide?"})
            assert r.status_code == 202, r.text
            question_id = r.json()["question_id"]

            async def denied() -> Any:
                return next((e for e in seen if e.type == "credits.denied"), None)

            denial = await eventually(denied, 30, "billing to deny the question")
            assert denial.run_id is None, "a question's saga is not a run"
            assert (denial.payload.question_id, denial.payload.about_run_id) == (question_id, first.run_id)
            assert denial.payload.reason == f"needs {estimate_question()} credits, 7 available"
            assert await owner.balance() == 7, "nothing held, nothing charged"
            assert not [e for e in seen if e.type == "credits.reserved" and e.payload.question_id == question_id]
    finally:
        await bus.stop()


async def test_the_gateway_refuses_what_the_plan_forbids_with_billings_answer_over_the_bus(
    billing_settings: BillingSettings, gateway: httpx.AsyncClient
) -> None:
    """billing.v1.entitlements on a real NATS: a free tenant's depth-3 or web run is a 403 before
    the 202 and publishes nothing; bought the pro plan (mock mode), the same run is accepted."""
    async with billing_service(billing_settings):
        owner = await signup(gateway)
        deep = {"question": "How do tides work?", "depth": 3, "max_sources": 3, "sources": ["web"]}
        r = await owner.post("/v1/runs", deep)
        assert r.status_code == 403 and "research depth up to 2, not 3" in r.json()["detail"], r.text
        assert (await owner.get("/v1/runs")).json()["runs"] == []  # no run was created
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="pro-1")
        assert r.status_code == 201, r.text
        r = await owner.post("/v1/runs", deep)
        assert r.status_code == 202, r.text
