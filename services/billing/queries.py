"""What the billing endpoints show: the summary and the pages of ledger entries, read from the ledger."""

from __future__ import annotations

from typing import Any, Literal

from contracts.billing import (
    MAX_RUN_USAGE,
    BillingSummary,
    Entitlements,
    EntitlementsQuery,
    EntryKind,
    LedgerEntry,
    LedgerReply,
    Overage,
    PlanInfo,
    RunCreditsReply,
)
from services.billing.application import Billing
from services.billing.plans import TOKENS_PER_CREDIT, concurrency_limit, estimate_run, overage_price, plan_named

ENTRY_KINDS: dict[str, EntryKind] = {
    "Granted": "granted",
    "Purchased": "purchased",
    "Reserved": "reserved",
    "Settled": "settled",
    "Refunded": "refunded",
    "Expired": "expired",
    "Adjusted": "adjusted",
}
SCAN = 500  # stored events read per step when paging (most of them are entries or meterings)
# What the replies show of a plan and of a ledger under the names the plan and the ledger give them.
PLAN_INFO = ("name", "monthly_credits", "concurrency", "overage")
PLAN_LIMITS = ("max_depth", "max_sources", "max_datasets", "max_monitors", "max_documents", "max_document_bytes")
LEDGER_FIGURES = ("period", "balance", "reserved", "used_pct", "tier", "used_by_run")


def same_named(source: object, names: tuple[str, ...]) -> dict[str, Any]:
    """`source`'s attributes `names`, for a reply field of the same name each."""
    return {name: getattr(source, name) for name in names}


def entry(stored: Any) -> LedgerEntry | None:
    """A stored ledger event as an entry; None for what moves no credits (metering, tier changes)."""
    kind = ENTRY_KINDS.get(type(stored).__name__)
    if kind is None:
        return None
    return LedgerEntry(
        seq=stored.originator_version,
        kind=kind,
        at=stored.timestamp,
        amount=stored.amount,
        balance=getattr(stored, "balance", None),
        run_id=getattr(stored, "about_run", None) or getattr(stored, "run_id", None),
        question_id=stored.run_id if getattr(stored, "about_run", None) else None,
        usage_event_ids=list(getattr(stored, "usage_event_ids", None) or []),
        actor=getattr(stored, "actor", None) or "quarry-billing",
        reason=getattr(stored, "reason", "") or _reason(stored),
        cause=getattr(stored, "cause", None) or None,
    )


def _reason(stored: Any) -> str:
    name = type(stored).__name__
    if name == "Purchased":
        return f"credit pack {stored.pack} ({stored.reference})"
    if name == "Expired":
        return f"unused plan credits of {stored.period}"
    return ""


def ledger_page(app: Billing, tenant_id: str, after: int, limit: int) -> LedgerReply:
    """Entries after the ledger position `after`, oldest first; `next_after` while more may follow."""
    entries: list[LedgerEntry] = []
    position = after
    while len(entries) < limit:
        stored = app.stored_entries(tenant_id, position, SCAN)
        if not stored:
            return LedgerReply(entries=entries, next_after=None)
        for ev in stored:
            position = ev.originator_version
            found = entry(ev)
            if found is not None:
                entries.append(found)
                if len(entries) == limit:
                    break
    return LedgerReply(entries=entries, next_after=position)


def recent_entries(app: Billing, tenant_id: str, count: int) -> list[LedgerEntry]:
    """The newest `count` entries, newest first."""
    if count <= 0:
        return []
    version = app.ledger(tenant_id, copy=True).version
    found: list[LedgerEntry] = []
    top = version
    while top > 0 and len(found) < count:
        low = max(0, top - SCAN)
        for ev in reversed(app.stored_entries(tenant_id, low, top - low)):
            item = entry(ev)
            if item is not None:
                found.append(item)
                if len(found) == count:
                    break
        top = low
    return found


def summary(app: Billing, tenant_id: str, recent: int, mode: Literal["mock", "live"]) -> BillingSummary:
    ledger = app.ledger(tenant_id, copy=True)
    plan = plan_named(ledger.plan)
    tokens = ledger.overage * TOKENS_PER_CREDIT
    return BillingSummary(
        tenant_id=tenant_id,
        plan=PlanInfo(**same_named(plan, PLAN_INFO), tools=sorted(plan.tools)),
        **same_named(ledger, LEDGER_FIGURES),
        budget=ledger.period_budget,
        used_by_tool=dict(sorted(ledger.used_by_tool.items())),
        overage=Overage(credits=ledger.overage, tokens=tokens, amount_usd=str(overage_price(tokens))),
        recent=recent_entries(app, tenant_id, recent),
        stripe_mode=mode,
    )


def entitlements(app: Billing, query: EntitlementsQuery) -> Entitlements:
    """The tenant's plan limits and what is in use, for the gateway's checks before a 202."""
    ledger = app.ledger(query.tenant_id, copy=True)
    plan = plan_named(ledger.plan)
    estimate = None
    if query.depth is not None and query.max_sources is not None:
        estimate = estimate_run(query.depth, query.max_sources, attachments=query.attachments)
    return Entitlements(
        tenant_id=query.tenant_id,
        plan=plan.name,
        tools=sorted(plan.tools),
        web=plan.web,
        concurrency=concurrency_limit(plan, ledger.tier),
        open_runs=ledger.open_runs,
        available=ledger.balance - ledger.floor(),
        estimate=estimate,
        **same_named(plan, PLAN_LIMITS),
    )


def run_credits(app: Billing, tenant_id: str, run_id: str) -> RunCreditsReply:
    """What billing metered for each usage record of the tenant's run, as its reservation holds
    them: the prices are billing's, so the gateway shows them instead of computing them. A run
    the tenant's ledger does not hold (another tenant's, or unknown) answers empty."""
    res = app.ledger(tenant_id, copy=True).reservations.get(run_id)
    if res is None or res.about_run is not None:  # a follow-up question's id is not a run
        return RunCreditsReply()
    usage = list(res.usage.items())
    return RunCreditsReply(credits=dict(usage[:MAX_RUN_USAGE]), complete=len(usage) <= MAX_RUN_USAGE)
