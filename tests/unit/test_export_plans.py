"""`python -m devtools.export_plans`: the /pricing page's data, all of it from billing's plan table."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import export_plans
from services.billing import plans as billing

REPO = Path(__file__).resolve().parents[2]


def test_the_command_writes_every_plan_pack_price_and_tier(tmp_path: Path) -> None:
    out = tmp_path / "generated" / "plans.json"
    done = subprocess.run(
        [sys.executable, "-m", "devtools.export_plans", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert [p["name"] for p in doc["plans"]] == list(billing.PLANS)
    pro = next(p for p in doc["plans"] if p["name"] == "pro")
    plan = billing.PLANS["pro"]
    assert pro["monthly_credits"] == plan.monthly_credits and pro["price_cents"] == plan.price_cents
    assert pro["price_usd"] == f"{plan.price_cents / 100:.2f}"
    assert pro["limits"]["max_depth"] == plan.max_depth and pro["limits"]["concurrent_runs"] == plan.concurrency
    assert pro["overage"] is True and pro["overage_cap_credits"] == plan.overage_cap and pro["web"] is True
    free = next(p for p in doc["plans"] if p["name"] == "free")
    assert free["overage"] is False and free["web"] is False and "fetch_url" not in free["tools"]
    assert {p["name"]: p["credits"] for p in doc["credit_packs"]} == {n: p.credits for n, p in billing.PACKS.items()}
    assert {p["tool"]: p["credits"] for p in doc["prices"]} == {t: p.credits for t, p in billing.PRICES.items()}
    assert [t["up_to_tokens"] for t in doc["overage_tiers"]] == [c for c, _ in billing.OVERAGE_TIERS]
    assert doc["overage_tiers"][0]["usd_per_1k_tokens"] == str(billing.OVERAGE_TIERS[0][1])
    assert doc["budget"] == {"throttle_from_pct": 75, "block_above_pct": 90}
    run = doc["typical_run"]
    assert run["credits_at_most"] == billing.estimate_run(run["depth"], run["max_sources"])
    assert sum(item["credits"] for item in run["items"]) == run["credits_at_most"]
    assert float(run["usd_at_most"]) > 0 and run["usd_priced_at_pack"] in billing.PACKS
    assert doc["follow_up_question"]["credits_at_most"] == billing.estimate_question()


def test_a_change_in_billings_table_changes_the_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cheaper = dataclasses.replace(billing.PLANS["pro"], price_cents=3_900, monthly_credits=12_000)
    monkeypatch.setitem(billing.PLANS, "pro", cheaper)
    monkeypatch.setitem(billing.PACKS, "pack_big", billing.CreditPack("pack_big", credits=100_000, price_cents=50_000))
    doc = json.loads(export_plans.write(tmp_path / "plans.json").read_text())
    pro = next(p for p in doc["plans"] if p["name"] == "pro")
    assert pro["price_usd"] == "39.00" and pro["monthly_credits"] == 12_000
    run = doc["typical_run"]
    assert run["usd_priced_at_pack"] == "pack_big"
    assert run["usd_at_most"] == f"{run['credits_at_most'] * 0.005:.2f}"


def test_the_default_output_is_the_web_builds_input() -> None:
    assert export_plans.DEFAULT_OUT == REPO / "web" / "src" / "generated" / "plans.json"
