"""The decision point: rate limits, the budget book, and simulations that use nothing up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from contracts.credits import (
    CreditsGranted,
    CreditsGrantedPayload,
    CreditsRefunded,
    CreditsRefundedPayload,
    CreditsReserved,
    CreditsReservedPayload,
)
from contracts.envelope import Event
from contracts.policy import SimulatedContext, SimulatedPrincipal, SimulatedResource, SimulateRequest
from contracts.tool import ToolRequestedPayload
from quarry_security.ratelimit import MemoryWindows, SlidingWindowLimiter
from services.policy.application.budget import BudgetBook
from services.policy.application.decider import Decider, rate_key
from services.policy.domain.engine import PolicyEngine
from services.policy.translate import decided_payload
from tests.support.policy import fetch_request

NOON = 12 * 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(clock=lambda: NOON)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def decider(engine: PolicyEngine, clock: Clock) -> Decider:
    return Decider(engine, limiter=SlidingWindowLimiter(MemoryWindows(), clock))


def publish(run_id: str = "r") -> ToolRequestedPayload:
    return ToolRequestedPayload(
        request_id="r", tool="publish_report", task_id="t", step="report", roles=["owner"], arguments={"run_id": run_id}
    )


def simulation(tenant: str = "acme", tool: str = "publish_report", **context: int) -> SimulateRequest:
    return SimulateRequest(
        principal=SimulatedPrincipal(tenant_id=tenant, roles=["owner"], plan="free"),
        resource=SimulatedResource(tool=tool, arguments={"run_id": "r"}),
        context=SimulatedContext(**context),
    )


async def test_the_rate_limit_denies_past_the_registry_limit_per_tenant_and_tool(
    decider: Decider, clock: Clock
) -> None:
    limit = decider.engine.registry["publish_report"].rate_limit
    assert (limit.calls, limit.per_s) == (30, 60)

    for _ in range(limit.calls):
        assert (await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")).decision == "allow"
    refused = await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")

    assert refused.decision == "deny"
    assert refused.policy_ids == []
    assert refused.reasons == ["rate limit: publish_report allows 30 calls per 60s per tenant (tool registry)"]
    assert refused.retry_after_s == 60.0, "the window is full from its first call: it has room again in 60 s"
    assert decided_payload(refused, publish()).retry_after_s == 60.0
    assert refused.version == decider.version and refused.evaluation_ms > 0
    # Another tenant, or another tool of the same tenant, has its own window.
    assert (await decider.decide(publish(), tenant_id="globex", agent="a", user_id="u")).decision == "allow"
    other_tool = ToolRequestedPayload(
        request_id="r", tool="web_search", task_id="t", step="s", roles=["owner"], arguments={"question": "q"}
    )
    assert (await decider.decide(other_tool, tenant_id="acme", agent="a", user_id="u")).decision == "allow"


async def test_the_window_slides(decider: Decider, clock: Clock) -> None:
    for i in range(30):
        clock.now = 1000.0 + i  # one call a second
        await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")
    clock.now = 1059.5
    assert (await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")).decision == "deny"
    clock.now = 1060.0  # the first call is now a window old
    assert (await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")).decision == "allow"
    assert (await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")).decision == "deny"


async def test_denied_calls_do_not_use_up_the_quota(decider: Decider) -> None:
    viewer = publish().model_copy(update={"roles": ["viewer"]})
    for _ in range(100):
        assert (await decider.decide(viewer, tenant_id="acme", agent="a", user_id="u")).decision == "deny"

    assert await decider.limiter.used(rate_key("acme", "publish_report"), 60) == 0
    assert (await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")).decision == "allow"


async def test_a_simulation_uses_no_quota_but_reports_an_exhausted_one(decider: Decider) -> None:
    for _ in range(50):
        assert (await decider.simulate(simulation())).decision == "allow"
    assert await decider.limiter.used(rate_key("acme", "publish_report"), 60) == 0

    for _ in range(30):
        await decider.decide(publish(), tenant_id="acme", agent="a", user_id="u")
    verdict = await decider.simulate(simulation())

    assert verdict.decision == "deny" and verdict.reasons[0].startswith("rate limit:")
    assert await decider.limiter.used(rate_key("acme", "publish_report"), 60) == 30


async def test_a_simulation_decides_with_the_given_budget_and_hour(decider: Decider) -> None:
    fetch = SimulateRequest(
        principal=SimulatedPrincipal(tenant_id="acme", roles=["admin"], plan="pro"),
        resource=SimulatedResource(tool="fetch_url", arguments={"url": "https://arxiv.org/abs/1"}),
    )

    low = fetch.model_copy(update={"context": SimulatedContext(budget_remaining_pct=5, hour_utc=12)})
    night = fetch.model_copy(update={"context": SimulatedContext(hour_utc=23)})
    assert (await decider.simulate(low)).policy_ids == ["low-budget-non-essential"]
    assert (await decider.simulate(night)).policy_ids == ["outside-time-box"]


async def test_the_memory_windows_are_bounded() -> None:
    limiter = SlidingWindowLimiter(MemoryWindows(max_keys=100), Clock())
    for i in range(1000):
        assert await limiter.hit(f"tenant-{i}", 5, 60) is None

    assert await limiter.used("tenant-999", 60) == 1
    assert await limiter.used("tenant-0", 60) == 0, "the least recently used keys were dropped"


# -- the budget book ---------------------------------------------------------------------------


E = TypeVar("E", bound=Event)


def credit(cls: type[E], payload: object, tenant: str = "acme", at: int = 0) -> E:
    ev = cls.create(payload, tenant_id=tenant)
    return ev.model_copy(update={"occurred_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=at)})


def test_the_budget_share_follows_billings_balances() -> None:
    book = BudgetBook()
    assert book.remaining_pct("acme") == 100  # never heard of: billing guards the money

    book.apply(credit(CreditsGranted, CreditsGrantedPayload(amount=500, plan="free", balance=500), at=1))
    book.apply(credit(CreditsReserved, CreditsReservedPayload(amount=460, balance=40), at=2))
    assert book.remaining_pct("acme") == 8
    book.apply(credit(CreditsRefunded, CreditsRefundedPayload(amount=20, reason="unused", balance=60), at=3))
    assert book.remaining_pct("acme") == 12
    # An older event delivered late changes nothing.
    book.apply(credit(CreditsReserved, CreditsReservedPayload(amount=490, balance=10), at=2))
    assert book.remaining_pct("acme") == 12
    # A top-up resets the mark.
    book.apply(credit(CreditsGranted, CreditsGrantedPayload(amount=1000, plan="pro", balance=1060), at=4))
    assert book.remaining_pct("acme") == 100
    assert book.remaining_pct("globex") == 100


async def test_real_decisions_use_the_tenants_budget(engine: PolicyEngine) -> None:
    book = BudgetBook()
    book.apply(credit(CreditsGranted, CreditsGrantedPayload(amount=100, plan="pro", balance=100), at=1))
    book.apply(credit(CreditsReserved, CreditsReservedPayload(amount=95, balance=5), at=2))
    decider = Decider(engine, budgets=book)
    fetch = fetch_request(plan="pro")

    assert (await decider.decide(fetch, tenant_id="acme", agent="a", user_id="u")).policy_ids == [
        "low-budget-non-essential"
    ]
    assert (await decider.decide(fetch, tenant_id="globex", agent="a", user_id="u")).decision == "allow"
