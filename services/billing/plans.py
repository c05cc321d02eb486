"""Plans, credit packs and prices as data: what a tenant gets, and what each unit of work costs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The tools the policy service's registry (`services/policy/registry.yaml`, `tiers`) unlocks per
# plan; the registry is what enforces them, this table is what billing shows and sells.
BASE_TOOLS = frozenset({"web_search", "llm_generate", "index_memory", "publish_report"})
PAID_TOOLS = BASE_TOOLS | {"fetch_url", "read_dataset"}


@dataclass(frozen=True)
class Plan:
    name: str
    monthly_credits: int
    max_depth: int
    tools: frozenset[str]
    concurrency: int  # runs holding a reservation at once
    overage: bool  # may the balance go below zero (billed per period at the overage rates)
    overage_cap: int = 0  # how far below zero, in credits
    price_cents: int = 0  # per month
    max_sources: int = 10  # sources a run's synthesis may read
    max_datasets: int = 3
    max_monitors: int = 3
    max_documents: int = 200  # documents kept uploaded (every dataset's, and the corpus's)
    max_document_bytes: int = 256 * 1024 * 1024  # their bytes

    @property
    def web(self) -> bool:
        """Whether runs may read the open web: fetching pages is the plan's `fetch_url`."""
        return "fetch_url" in self.tools

    def refusal(self, depth: int, max_sources: int, sources: Sequence[str] | None) -> str | None:
        """Why the plan does not allow a run of this shape; None when it does."""
        if depth > self.max_depth:
            return f"the {self.name} plan allows research depth up to {self.max_depth}, not {depth}"
        if max_sources > self.max_sources:
            return f"the {self.name} plan allows up to {self.max_sources} sources a run, not {max_sources}"
        if sources and "web" in sources and not self.web:
            return f"the {self.name} plan does not include web research; upgrade to search the web"
        return None


# The paid plans, a row each: every one reaches depth 3 with the paid tools, reads up to 50
# sources a run and may run into overage (down to its cap); they differ in these columns.
PAID_COLUMNS = (
    "name",
    "monthly_credits",
    "concurrency",
    "overage_cap",
    "price_cents",
    "max_datasets",
    "max_monitors",
    "max_documents",
    "max_document_bytes",
)
PAID_PLANS: tuple[tuple[Any, ...], ...] = (
    ("pro", 10_000, 10, 20_000, 4_900, 25, 25, 5_000, 10 * 1024**3),
    ("enterprise", 100_000, 50, 500_000, 49_900, 500, 500, 200_000, 500 * 1024**3),
)
PLANS: dict[str, Plan] = {
    "free": Plan("free", monthly_credits=500, max_depth=2, tools=BASE_TOOLS, concurrency=5, overage=False),
} | {
    row[0]: Plan(
        **dict(zip(PAID_COLUMNS, row, strict=True)), max_depth=3, tools=PAID_TOOLS, overage=True, max_sources=50
    )
    for row in PAID_PLANS
}
DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class CreditPack:
    """Credits bought once; unlike a plan's monthly credits they do not expire at the period's end."""

    name: str
    credits: int
    price_cents: int


PACKS: dict[str, CreditPack] = {
    "pack_1k": CreditPack("pack_1k", credits=1_000, price_cents=1_200),
    "pack_10k": CreditPack("pack_10k", credits=10_000, price_cents=10_000),
}

# Credits per unit of metered usage. One credit is a thousand tokens.
TOKENS_PER_CREDIT = 1000


@dataclass(frozen=True)
class Price:
    """What one unit of a tool's work costs. Units: search_call, page and query are counted in a
    usage record's `search_calls`; 1k_tokens in its tokens; compute_minute in its seconds; a
    report is a flat fee per usage record."""

    unit: str
    credits: int


# Billing's price list, by tool. The policy service's registry (`services/policy/registry.yaml`,
# `cost`) declares the same prices; billing cannot read it (services share no files), so
# tests/unit/test_billing.py fails when the two disagree.
PRICES: dict[str, Price] = {
    "web_search": Price("search_call", 2),
    "fetch_url": Price("page", 1),
    "llm_generate": Price("1k_tokens", 1),
    "index_memory": Price("compute_minute", 1),
    "recall_memory": Price("search_call", 1),
    "answer_question": Price("1k_tokens", 1),
    "publish_report": Price("report", 5),
    "read_dataset": Price("query", 3),
}
CALL_UNITS = frozenset({"search_call", "page", "query"})
# What a usage record's other quantities cost, whatever its tool (and all of it for a tool
# billing has no price for).
CREDITS_PER_SEARCH_CALL = PRICES["web_search"].credits
CREDITS_PER_1K_TOKENS = 1
CREDITS_PER_COMPUTE_MINUTE = 1
CREDITS_PER_REPORT = PRICES["publish_report"].credits
CREDITS_PER_ATTACHMENT = 4  # reading a tenant document or dataset the run names into its context

# A follow-up question: recall (up to two searches of the tenant's memory: the question, then the
# run's own question as a fallback) and a cited answer (the recalled passages in, the answer
# out), each tried at most twice. Reserved when it is asked; settled against its usage.
QUESTION_ATTEMPTS = 2
QUESTION_RECALL_SEARCHES = 2
QUESTION_ANSWER_TOKENS = 8_000

# Overage, per 1k tokens (= per credit), by tiers of the period's overage volume in tokens.
OVERAGE_TIERS: tuple[tuple[int | None, Decimal], ...] = (
    (500_000, Decimal("0.012")),
    (2_000_000, Decimal("0.008")),
    (None, Decimal("0.005")),
)

# Budget tiers by the share of the period's budget used: under 75% runs are allowed; from 75%
# to 90% they are throttled (half the plan's concurrency, and a warning event); over 90% only
# essential tools run (the policy service's `low-budget-non-essential`).
THROTTLE_FROM_PCT = 75
BLOCK_ABOVE_PCT = 90


def estimate_run(depth: int, max_sources: int, attachments: int = 0) -> int:
    """Upper bound of a run's cost, reserved at admission and settled against usage later.

    A run plans up to 2 + depth sub-questions, each one search; synthesis reads up to
    `max_sources` sources and every attachment (a document or dataset of the tenant's the run
    names); the report is a flat fee. The margin covers model tokens.
    """
    searches = 2 + depth + 1
    token_allowance = 10 + 4 * max_sources * depth
    return (
        searches * CREDITS_PER_SEARCH_CALL + token_allowance + attachments * CREDITS_PER_ATTACHMENT + CREDITS_PER_REPORT
    )


def estimate_question() -> int:
    """Upper bound of a follow-up question's cost, reserved when it is asked."""
    recall = QUESTION_RECALL_SEARCHES * usage_credits(0, 1, 0, "recall_memory")
    answer = usage_credits(QUESTION_ANSWER_TOKENS, 0, 0, "answer_question")
    return QUESTION_ATTEMPTS * (recall + answer)


def usage_credits(tokens: int, search_calls: int, seconds: float, tool: str) -> int:
    """Credits one usage record costs, by the price of the tool that was used: its unit at the
    tool's price, any other quantity at the base rates."""
    price = PRICES.get(tool)
    unit = price.unit if price is not None else ""
    each = price.credits if price is not None else 0
    return (
        search_calls * (each if unit in CALL_UNITS else CREDITS_PER_SEARCH_CALL)
        + math.ceil(tokens / 1000) * (each if unit == "1k_tokens" else CREDITS_PER_1K_TOKENS)
        + math.ceil(seconds / 60) * (each if unit == "compute_minute" else CREDITS_PER_COMPUTE_MINUTE)
        + (each if unit == "report" else 0)
    )


def overage_price(tokens: int) -> Decimal:
    """What `tokens` of overage in one period cost, in USD, by the tiered rates (graduated)."""
    if tokens <= 0:
        return Decimal("0.00")
    total = Decimal(0)
    floor = 0
    for ceiling, rate_per_1k in OVERAGE_TIERS:
        top = tokens if ceiling is None else min(tokens, ceiling)
        if top > floor:
            total += Decimal(top - floor) * rate_per_1k / 1000
        if ceiling is None or tokens <= ceiling:
            break
        floor = ceiling
    return total.quantize(Decimal("0.01"))


def budget_tier(used_pct: int) -> str:
    """allow, throttle or block, from the share of the period's budget used."""
    if used_pct > BLOCK_ABOVE_PCT:
        return "block"
    if used_pct >= THROTTLE_FROM_PCT:
        return "throttle"
    return "allow"


def concurrency_limit(plan: Plan, tier: str) -> int:
    """Runs that may hold a reservation at once: the plan's limit, halved while throttled."""
    return max(1, plan.concurrency // 2) if tier != "allow" else plan.concurrency


def plan_named(name: str) -> Plan:
    """The plan; an unknown name (a plan retired since) counts as the default plan."""
    return PLANS.get(name, PLANS[DEFAULT_PLAN])
