"""Billing on a real JetStream, driven through the gateway's API: summary and ledger pages,
checkout and the portal against a local server speaking Stripe's API (live mode) or none at
all (mock mode), and signed webhooks applied once by Stripe event id."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import subjects
from contracts.envelope import Actor
from contracts.question import QuestionAnswered, QuestionAnsweredPayload, QuestionAsked, QuestionAskedPayload
from contracts.run import RunCompleted, RunCompletedPayload, RunRequested, RunRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from quarry_runtime.bus import Bus, Subscription
from services.billing.bootstrap import BillingSettings, build
from services.billing.plans import PACKS, PLANS, estimate_question, estimate_run
from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings
from tests.fakes.stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, event, serve, sign
from tests.servers import private_nats

pytestmark = pytest.mark.infra

JWT_SECRET = "an-integration-test-secret-of-32-bytes!"
FREE = PLANS["free"].monthly_credits
PACK = PACKS["pack_1k"].credits


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of each test's own: on the session's, the billing and gateway durable consumers
    these tests start would first work through every earlier test's backlog, on the test's loop."""
    with private_nats(tmp_path_factory.mktemp("billing-nats")) as server:
        yield server.admin_url


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    with serve(fake) as url:
        yield fake, url


@contextlib.asynccontextmanager
async def billing_service(settings: BillingSettings) -> AsyncIterator[None]:
    """The service as `run` drives it (bus, consumers, relay, responders), minus signal handlers."""
    service = build(settings)
    await service.bus.start()
    jobs = [asyncio.create_task(job()) for job in service.background]
    nc = service.bus.broker.connection
    deadline = time.monotonic() + 10
    while True:
        try:
            await nc.request(subjects.BILLING_LEDGER, b"{}", timeout=0.5)
            break
        except Exception:  # noqa: BLE001 - not subscribed yet
            assert time.monotonic() < deadline, "billing never answered"
            await asyncio.sleep(0.05)
    try:
        yield
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await service.bus.stop()
        for close in service.on_stop:
            close()


@pytest.fixture
async def gateway(nats_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(data_dir=tmp_path / "gateway", jwt_secret=JWT_SECRET).model_copy(
        update={"nats_url": nats_url}
    )
    app = build_gateway(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=15) as http:
            yield http


class Owner:
    def __init__(self, http: httpx.AsyncClient, token: str, tenant_id: str) -> None:
        self.http, self.tenant_id = http, tenant_id
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.headers, **kw)

    async def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = self.headers | ({"Idempotency-Key": key} if key else {})
        return await self.http.post(path, headers=headers, json=body)

    async def balance(self) -> int:
        r = await self.get("/v1/billing/summary")
        assert r.status_code == 200, r.text
        return int(r.json()["balance"])


async def signup(http: httpx.AsyncClient) -> Owner:
    name = f"t{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/v1/auth/signup", json={"email": f"{name}@example.com", "password": "long-enough-1", "tenant_name": name}
    )
    assert r.status_code == 201, r.text
    return Owner(http, r.json()["access_token"], r.json()["tenant_id"])


async def webhook(http: httpx.AsyncClient, body: str, signature: str) -> httpx.Response:
    return await http.post(
        "/v1/billing/webhook", content=body, headers={"Stripe-Signature": signature, "Content-Type": "application/json"}
    )


async def test_live_checkout_portal_and_webhooks_apply_once(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient, stripe_api: tuple[FakeStripe, str]
) -> None:
    fake, url = stripe_api
    settings = BillingSettings(
        data_dir=tmp_path / "billing",
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=url,
    ).model_copy(update={"nats_url": nats_url})
    async with billing_service(settings):
        owner = await signup(gateway)
        r = await owner.get("/v1/billing/summary")
        assert r.status_code == 200, r.text
        summary = r.json()
        assert (summary["plan"]["name"], summary["balance"], summary["tier"], summary["stripe_mode"]) == (
            "free",
            FREE,
            "allow",
            "live",
        )

        # Checkout: a Stripe session, created once however often the client retries.
        before = len(fake.created("/v1/checkout/sessions"))
        first = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="buy-1")
        again = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="buy-1")
        assert first.status_code == 201, first.text
        session = first.json()
        assert session["mode"] == "live" and session["url"].endswith(session["session_id"])
        assert again.json()["session_id"] == session["session_id"]
        made = fake.created("/v1/checkout/sessions")[before:]
        assert len(made) == 1
        assert made[0]["metadata"] == {"tenant_id": owner.tenant_id, "pack": "pack_1k"}
        assert made[0]["line_items"]["0"]["price_data"]["unit_amount"] == str(PACKS["pack_1k"].price_cents)
        bad = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1m"})
        assert bad.status_code == 422 and "pack_1k" in bad.json()["detail"]
        assert await owner.balance() == FREE  # nothing is credited before Stripe says it is paid

        # The customer portal needs a Stripe customer: one appears with the first payment.
        assert (await owner.post("/v1/billing/portal", {})).status_code == 409

        paid = event(
            f"evt_{uuid.uuid4().hex[:12]}",
            "checkout.session.completed",
            {
                "id": session["session_id"],
                "object": "checkout.session",
                "mode": "payment",
                "payment_status": "paid",
                "customer": "cus_quarry1",
                "metadata": {"tenant_id": owner.tenant_id, "pack": "pack_1k"},
            },
        )
        # A bad signature, a wrong secret or a stale timestamp is a 400 and changes nothing.
        for signature in (
            "t=1,v1=deadbeef",
            sign(paid, secret="whsec_someone_else"),
            sign(paid, at=int(time.time()) - 3600),
            sign(paid + " "),
        ):
            r = await webhook(gateway, paid, signature)
            assert r.status_code == 400, (signature, r.text)
        assert await owner.balance() == FREE

        r = await webhook(gateway, paid, sign(paid))
        assert r.status_code == 200 and r.json()["outcome"] == "applied", r.text
        for _ in range(2):  # redelivered by Stripe
            r = await webhook(gateway, paid, sign(paid))
            assert r.status_code == 200 and r.json()["outcome"] == "unchanged", r.text
        assert await owner.balance() == FREE + PACK

        portal = await owner.post("/v1/billing/portal", {"return_url": "https://app.example/billing"}, key="p-1")
        assert portal.status_code == 200, portal.text
        assert portal.json()["url"].startswith("https://billing.stripe.com/p/session/")
        assert fake.created("/v1/billing_portal/sessions")[-1] == {
            "customer": "cus_quarry1",
            "return_url": "https://app.example/billing",
        }

        # A subscription: checkout, then Stripe's events move the plan (and the entitlements).
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="sub-1")
        assert r.status_code == 201, r.text
        sub_session = fake.created("/v1/checkout/sessions")[-1]
        assert sub_session["mode"] == "subscription" and sub_session["customer"] == "cus_quarry1"
        assert sub_session["subscription_data"]["metadata"] == {"tenant_id": owner.tenant_id, "plan": "pro"}
        meta = {"tenant_id": owner.tenant_id, "plan": "pro"}
        done = event(
            "evt_sub_done",
            "checkout.session.completed",
            {
                "id": r.json()["session_id"],
                "mode": "subscription",
                "payment_status": "paid",
                "customer": "cus_quarry1",
                "subscription": "sub_1",
                "metadata": meta,
            },
        )
        assert (await webhook(gateway, done, sign(done))).json()["outcome"] == "applied"
        summary = (await owner.get("/v1/billing/summary")).json()
        assert summary["plan"]["name"] == "pro" and "fetch_url" in summary["plan"]["tools"]
        assert summary["balance"] == PLANS["pro"].monthly_credits + PACK
        invoice = event(
            "evt_inv",
            "invoice.paid",
            {
                "id": "in_1",
                "customer": "cus_quarry1",
                "subscription": "sub_1",
                "subscription_details": {"metadata": meta},
            },
        )
        assert (await webhook(gateway, invoice, sign(invoice))).json()["outcome"] in ("applied", "unchanged")
        gone = event(
            "evt_sub_gone", "customer.subscription.deleted", {"id": "sub_1", "status": "canceled", "metadata": meta}
        )
        assert (await webhook(gateway, gone, sign(gone))).json()["outcome"] == "applied"
        assert (await owner.get("/v1/billing/summary")).json()["plan"]["name"] == "free"

        refund = event(
            "evt_refund",
            "charge.refunded",
            {
                "id": "ch_1",
                "amount": 1200,
                "amount_refunded": 1200,
                "metadata": {"tenant_id": owner.tenant_id, "pack": "pack_1k"},
            },
        )
        assert (await webhook(gateway, refund, sign(refund))).json()["outcome"] == "applied"
        assert (await webhook(gateway, refund, sign(refund))).json()["outcome"] == "unchanged"

        # The ledger pages hold every movement once, each naming its actor and cause.
        page = (await owner.get("/v1/billing/ledger", params={"limit": 2})).json()
        entries = page["entries"]
        while page["next_after"] is not None:
            page = (await owner.get("/v1/billing/ledger", params={"after": page["next_after"], "limit": 2})).json()
            entries += page["entries"]
        kinds = [e["kind"] for e in entries]
        assert kinds.count("purchased") == 1 and kinds.count("adjusted") == 1, kinds
        purchase = next(e for e in entries if e["kind"] == "purchased")
        assert purchase["actor"] == "stripe" and purchase["cause"] == paid.split('"id": "')[1].split('"')[0]
        assert entries[-1]["balance"] == await owner.balance()


async def test_mock_mode_applies_checkout_at_once_and_refuses_webhooks(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    settings = BillingSettings(data_dir=tmp_path / "billing", environment="development").model_copy(
        update={"nats_url": nats_url}
    )
    async with billing_service(settings):
        owner = await signup(gateway)
        for _ in range(2):  # a retry with the same key buys once
            r = await owner.post("/v1/billing/checkout", {"kind": "pack", "item": "pack_1k"}, key="mock-1")
            assert r.status_code == 201 and r.json()["completed"] and r.json()["mode"] == "mock", r.text
        assert await owner.balance() == FREE + PACK
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="mock-2")
        assert r.status_code == 201, r.text
        summary = (await owner.get("/v1/billing/summary")).json()
        assert summary["plan"]["name"] == "pro" and summary["stripe_mode"] == "mock"
        body = event("evt_x", "invoice.paid", {})
        r = await webhook(gateway, body, sign(body))
        assert r.status_code == 400 and "QUARRY_STRIPE_WEBHOOK_SECRET" in r.json()["detail"]
        assert (await owner.post("/v1/billing/portal", {})).status_code == 409


async def test_the_billing_pages_are_503_when_billing_does_not_answer(gateway: httpx.AsyncClient) -> None:
    owner = await signup(gateway)
    r = await owner.get("/v1/billing/summary")
    assert r.status_code == 503 and "billing did not answer" in r.json()["detail"]


async def _until(check: Any, what: str, within_s: float = 30.0) -> Any:
    """Poll an async check until it returns something truthy, or fail with `what`."""
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_the_summary_shows_each_field_the_issue_lists(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    """`GET /v1/billing/summary` field by field: plan (credits, tools, concurrency, overage),
    period, balance, reserved, used by tool and by run, recent entries, budget tier, and the
    period's overage priced by the tiered rates once it crosses 500k and then 2M tokens."""
    settings = BillingSettings(data_dir=tmp_path / "billing", environment="development").model_copy(
        update={"nats_url": nats_url}
    )
    bus = Bus(nats_url, "billing-summary-test")
    await bus.start()
    try:
        async with billing_service(settings):
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
                await _until(settled, f"run {req.run_id} to settle")
                return req

            first = await run(cap - 4, searches=2)
            spent = cap
            while spent < pro.monthly_credits + 600:  # 600k tokens of overage: 500k at 0.012, 100k at 0.008
                take = min(cap, pro.monthly_credits + 600 - spent)
                await run(take)
                spent += take
            s = await _until(settled, "the runs to settle")
            assert s["overage"] == {"credits": 600, "tokens": 600_000, "amount_usd": "6.80"}

            # A follow-up question on the first run, asked through the API: held when asked,
            # charged its usage when answered; its entries name the question and the run.
            await _until(lambda: _completed(owner, first.run_id), "the gateway to show the first run completed")
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

            await _until(answered_and_charged, "the question to be charged")

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

            s = await _until(held_too, "every run to settle and the last one to hold credits")
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
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    """A question the balance cannot cover is denied on the bus (the orchestrator then ends it
    before any tool runs): the free plan has no overage, so its follow-ups are not free."""
    settings = BillingSettings(data_dir=tmp_path / "billing", environment="development").model_copy(
        update={"nats_url": nats_url}
    )
    bus = Bus(nats_url, f"billing-denial-{uuid.uuid4().hex[:6]}")
    seen: list[Any] = []
    owner_box: list[Owner] = []

    async def collect(ev: Any) -> None:
        if owner_box and ev.tenant_id == owner_box[0].tenant_id:
            seen.append(ev)

    bus.subscribe(Subscription("credits.>", bus.service, collect))
    await bus.start()
    try:
        async with billing_service(settings):
            owner = await signup(gateway)
            owner_box.append(owner)
            await _until(lambda: _has_balance(owner, FREE), "the free plan's credits")

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
            await _until(lambda: _has_balance(owner, FREE - first_estimate), "the first run to settle")
            need = FREE - first_estimate - 7
            await spend(2, 10, need)
            await _until(lambda: _has_balance(owner, 7), "the second run to settle")

            await _until(lambda: _completed(owner, first.run_id), "the gateway to show the first run completed")
            r = await owner.post(f"/v1/runs/{first.run_id}/questions", {"question": "and at neap tide?"})
            assert r.status_code == 202, r.text
            question_id = r.json()["question_id"]

            async def denied() -> Any:
                return next((e for e in seen if e.type == "credits.denied"), None)

            denial = await _until(denied, "billing to deny the question")
            assert denial.run_id is None, "a question's saga is not a run"
            assert (denial.payload.question_id, denial.payload.about_run_id) == (question_id, first.run_id)
            assert denial.payload.reason == f"needs {estimate_question()} credits, 7 available"
            assert await owner.balance() == 7, "nothing held, nothing charged"
            assert not [e for e in seen if e.type == "credits.reserved" and e.payload.question_id == question_id]
    finally:
        await bus.stop()


async def _completed(owner: Owner, run_id: str | None) -> bool:
    r = await owner.get(f"/v1/runs/{run_id}")
    return r.status_code == 200 and r.json()["state"] == "completed"


async def _has_balance(owner: Owner, credits: int) -> bool:
    r = await owner.get("/v1/billing/summary")
    return r.status_code == 200 and r.json()["balance"] == credits and r.json()["reserved"] == 0


async def test_the_gateway_refuses_what_the_plan_forbids_with_billings_answer_over_the_bus(
    nats_url: str, tmp_path: Path, gateway: httpx.AsyncClient
) -> None:
    """billing.v1.entitlements on a real NATS: a free tenant's depth-3 or web run is a 403 before
    the 202 and publishes nothing; bought the pro plan (mock mode), the same run is accepted."""
    settings = BillingSettings(data_dir=tmp_path / "billing", environment="development").model_copy(
        update={"nats_url": nats_url}
    )
    async with billing_service(settings):
        owner = await signup(gateway)
        deep = {"question": "How do tides work?", "depth": 3, "max_sources": 3, "sources": ["web"]}
        r = await owner.post("/v1/runs", deep)
        assert r.status_code == 403 and "research depth up to 2, not 3" in r.json()["detail"], r.text
        assert (await owner.get("/v1/runs")).json()["runs"] == []  # no run was created
        r = await owner.post("/v1/billing/checkout", {"kind": "subscription", "item": "pro"}, key="pro-1")
        assert r.status_code == 201, r.text
        r = await owner.post("/v1/runs", deep)
        assert r.status_code == 202, r.text
