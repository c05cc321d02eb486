"""Plans and prices as data: what a tenant gets, and what each unit of work costs in credits."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    monthly_credits: int
    max_depth: int


PLANS: dict[str, Plan] = {
    "free": Plan("free", monthly_credits=500, max_depth=2),
    "pro": Plan("pro", monthly_credits=10_000, max_depth=3),
    "enterprise": Plan("enterprise", monthly_credits=100_000, max_depth=3),
}
DEFAULT_PLAN = "free"

# Credits per unit of metered usage.
CREDITS_PER_SEARCH_CALL = 2
CREDITS_PER_1K_TOKENS = 1
CREDITS_PER_COMPUTE_MINUTE = 1
CREDITS_PER_REPORT = 5


def estimate_run(depth: int, max_sources: int) -> int:
    """Upper bound of a run's cost, reserved at admission and settled against usage later.

    A run plans up to 2 + depth sub-questions, each one search; synthesis reads up to
    `max_sources` sources; the report is a flat fee. The margin covers model tokens.
    """
    searches = 2 + depth + 1
    token_allowance = 10 + 4 * max_sources * depth
    return searches * CREDITS_PER_SEARCH_CALL + token_allowance + CREDITS_PER_REPORT


def usage_credits(tokens: int, search_calls: int, seconds: float, tool: str) -> int:
    """Credits one usage record costs."""
    report_fee = CREDITS_PER_REPORT if tool == "publish_report" else 0
    return (
        search_calls * CREDITS_PER_SEARCH_CALL
        + math.ceil(tokens / 1000) * CREDITS_PER_1K_TOKENS
        + math.ceil(seconds / 60) * CREDITS_PER_COMPUTE_MINUTE
        + report_fee
    )
