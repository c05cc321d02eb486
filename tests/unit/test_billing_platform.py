"""The platform's own usage (a rollout's shadow tasks) is metered on the platform's ledger: it
never reduces a tenant's balance, never joins the run's settlement, and shows as platform cost."""

from __future__ import annotations

from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.billing.application import Billing
from services.billing.meters import PLATFORM_CREDITS, PLATFORM_LEDGER
from services.billing.plans import usage_credits
from tests.support.credits import FREE, POPO, completed, request, usage


def shadow_usage(req: object, n: int, tokens: int = 2_000) -> UsageRecorded:
    payload = UsageRecordedPayload(
        task_id=f"plan-{n}.shadow", kind="plan", tool="llm_generate", tokens_in=tokens, billed_to="platform"
    )
    return UsageRecorded.caused_by(req, payload, name=f"shadow-usage:{n}")  # type: ignore[arg-type]


def test_platform_billed_usage_never_reduces_the_tenants_balance() -> None:
    app = Billing(env=POPO)
    req = request()
    app.admit(req)
    own = [usage(req, i) for i in range(2)]
    shadows = [shadow_usage(req, i) for i in range(3)]
    counted = PLATFORM_CREDITS.labels("plan")._value.get()
    for u in [*own, *shadows, shadows[0]]:  # a redelivered shadow usage is metered once
        app.meter(u)
    app.close_run(completed(req, own))
    tenant = app.ledger("t1")
    charged = 2 * usage_credits(0, 1, 0, "web_search")
    assert tenant.balance == FREE - charged
    assert tenant.reservations[req.run_id or ""].settled == charged
    assert not {u.event_id for u in shadows} & set(tenant.metered)
    platform = app.ledger(PLATFORM_LEDGER)
    cost = usage_credits(2_000, 0, 0, "llm_generate")
    assert cost > 0 and [platform.metered[u.event_id] for u in shadows] == [cost] * 3
    assert not platform.reservations
    assert PLATFORM_CREDITS.labels("plan")._value.get() - counted == 3 * cost
