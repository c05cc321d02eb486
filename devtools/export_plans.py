"""`python -m devtools.export_plans [--out PATH]`: billing's plan table as the JSON /pricing is built from.

One source of truth: the plans, their credits, limits and prices, the credit packs, the price of
each tool, the overage tiers and what a typical run costs all come from `services.billing.plans`
(the typical run's cost from billing's own estimate and price table), so a change there changes
the page at the next build. The web build reads `web/src/generated/plans.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from services.billing import plans as billing

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "web" / "src" / "generated" / "plans.json"
# A typical run is the one the API makes when asked only a question: its defaults.
TYPICAL_DEPTH = 2
TYPICAL_SOURCES = 8


def _usd(cents: int) -> str:
    return f"{cents / 100:.2f}"


def typical_run(depth: int = TYPICAL_DEPTH, max_sources: int = TYPICAL_SOURCES) -> dict[str, Any]:
    """What a run of this shape costs at most (what billing reserves), item by item at billing's
    prices, and what that is in money at the cheapest credit pack's price per credit."""
    searches = 2 + depth + 1
    token_credits = 10 + 4 * max_sources * depth
    items: list[dict[str, Any]] = [
        {
            "what": "searches",
            "tool": "web_search",
            "quantity": searches,
            "credits": billing.usage_credits(0, searches, 0, "web_search"),
        },
        {
            "what": "model tokens (reading sources, writing the report)",
            "tool": "llm_generate",
            "quantity": token_credits * billing.TOKENS_PER_CREDIT,
            "credits": billing.usage_credits(token_credits * billing.TOKENS_PER_CREDIT, 0, 0, "llm_generate"),
        },
        {
            "what": "the report",
            "tool": "publish_report",
            "quantity": 1,
            "credits": billing.usage_credits(0, 0, 0, "publish_report"),
        },
    ]
    credits = billing.estimate_run(depth, max_sources)
    if sum(int(i["credits"]) for i in items) != credits:
        raise RuntimeError("the itemised typical run no longer adds up to billing's estimate: update export_plans")
    cheapest = min(billing.PACKS.values(), key=lambda p: p.price_cents / p.credits)
    return {
        "depth": depth,
        "max_sources": max_sources,
        "credits_at_most": credits,
        "items": items,
        "usd_at_most": f"{credits * cheapest.price_cents / cheapest.credits / 100:.2f}",
        "usd_priced_at_pack": cheapest.name,
    }


def plans_document() -> dict[str, Any]:
    return {
        "source": "services/billing/plans.py",
        "currency": "USD",
        "default_plan": billing.DEFAULT_PLAN,
        "plans": [
            {
                "name": plan.name,
                "price_cents": plan.price_cents,
                "price_usd": _usd(plan.price_cents),
                "monthly_credits": plan.monthly_credits,
                "limits": {
                    "max_depth": plan.max_depth,
                    "max_sources": plan.max_sources,
                    "concurrent_runs": plan.concurrency,
                    "max_datasets": plan.max_datasets,
                    "max_monitors": plan.max_monitors,
                    "max_documents": plan.max_documents,
                    "max_document_bytes": plan.max_document_bytes,
                },
                "tools": sorted(plan.tools),
                "web": plan.web,
                "overage": plan.overage,
                "overage_cap_credits": plan.overage_cap,
            }
            for plan in billing.PLANS.values()
        ],
        "credit_packs": [
            {"name": p.name, "credits": p.credits, "price_cents": p.price_cents, "price_usd": _usd(p.price_cents)}
            for p in billing.PACKS.values()
        ],
        "tokens_per_credit": billing.TOKENS_PER_CREDIT,
        "prices": [{"tool": tool, "unit": p.unit, "credits": p.credits} for tool, p in billing.PRICES.items()],
        "credits_per_attachment": billing.CREDITS_PER_ATTACHMENT,
        "overage_tiers": [
            {"up_to_tokens": ceiling, "usd_per_1k_tokens": str(rate)} for ceiling, rate in billing.OVERAGE_TIERS
        ],
        "budget": {"throttle_from_pct": billing.THROTTLE_FROM_PCT, "block_above_pct": billing.BLOCK_ABOVE_PCT},
        "typical_run": typical_run(),
        "follow_up_question": {"credits_at_most": billing.estimate_question()},
    }


def write(out: Path = DEFAULT_OUT) -> Path:
    """Write the document to `out` atomically (a build reading it never sees half a file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(plans_document(), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    print(write(args.out))


if __name__ == "__main__":
    main()
