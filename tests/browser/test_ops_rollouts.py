"""The console's rollout pages in Chromium on a whole stack (its orchestrator keeps the rollouts):
a platform admin finds a rollout they started in the list, opens it, reads its stage, spec and
decisions, pauses, resumes and aborts it, each after confirming, and finds the abort in the audit
log. A platform operator reads the same pages without a button to change anything, and the API
refuses them the change too. Each page passes axe and fits a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from contracts.agents import EVAL_TARGETS
from devtools.stack import Stack
from tests.browser.pages import DESKTOP, PHONE, fits, on_a_phone, settled
from tests.browser.test_ops import OperatorPage, operator_page, operator_signed_in

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["operator_page"]  # fixtures

PASSING = {**EVAL_TARGETS, "fabricated_citations": 0.0}
# No look promotes or rolls back while a test runs: the decisions are the operator's.
QUIET = {"stages": [10, 50, 100], "min_dwell_s": 3600, "look_every_s": 3600}


def api(page: Page, path: str, body: Any) -> dict[str, Any]:
    """POST as the page would (its session cookie and CSRF token); the answer must be a 2xx."""
    csrf = {c["name"]: c["value"] for c in page.context.cookies()}["quarry_csrf"]
    r = page.request.post(path, data=body, headers={"X-CSRF-Token": csrf})
    assert r.ok, (path, r.status, r.text())
    found: dict[str, Any] = r.json()
    return found


def started_rollout(page: Page, component: str, note: str) -> dict[str, Any]:
    """A stable and a candidate version of `component`, both through the eval gate, and a rollout
    of the candidate, started by the signed-in platform admin through the API."""
    versions = []
    for n in (5, 6):
        config = {"mode": "offline", "parameters": {"browser_test": n}}
        version = api(page, "/v1/ops/agents", {"component": component, "config": config})["version"]
        api(page, f"/v1/ops/agents/{component}/{version}/evaluations", {"metrics": PASSING})
        versions.append(version)
    return api(page, "/v1/ops/rollouts", {"component": component, "candidate": versions[1], "note": note, **QUIET})


def confirm(page: Page, action: str) -> None:
    page.get_by_role("button", name=f"{action} the rollout").click()
    asked = page.get_by_role("group", name=re.compile(rf"^{action} this rollout\?"))
    asked.get_by_role("button", name=action, exact=True).click()


def test_an_admin_pauses_resumes_and_aborts_a_rollout_from_the_console(
    page: Page, web_stack: Stack, tmp_path: Path
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    email = operator_signed_in(page, web_stack, "platform_admin", tmp_path)
    rollout = started_rollout(page, "synthesiser", "<b>tighter</b> summaries")
    rollout_id, short = rollout["rollout_id"], rollout["rollout_id"][:8]

    page.goto("/ops")
    page.get_by_role("navigation", name="Operations").get_by_role("link", name="Rollouts", exact=True).click()
    expect(page.get_by_role("heading", name="Rollouts", level=1)).to_be_visible()
    table = page.get_by_role("region", name="Rollouts table")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=short, exact=True))
    expect(row).to_contain_text("synthesiser")
    expect(row).to_contain_text(rollout["candidate"][:8])
    expect(row).to_contain_text("10% (stage 1 of 3)")
    expect(row.get_by_role("cell").nth(3)).to_have_text("running")
    settled(page, "ops rollouts admin")
    on_a_phone(page, "ops rollouts admin")

    row.get_by_role("link", name=short, exact=True).click()
    expect(page.get_by_role("heading", name=f"Rollout {short}", level=1)).to_be_visible()
    expect(page.get_by_text("candidate 10% · stable 90%")).to_be_visible()
    expect(page.get_by_role("region", name="Spec")).to_contain_text('"stages"')
    decisions = page.get_by_role("region", name="Decisions table")
    expect(decisions.get_by_role("rowheader")).to_have_text(["started"])
    # The note is text: its markup is not markup on the page.
    expect(decisions).to_contain_text("<b>tighter</b> summaries")
    assert page.locator("main b").count() == 0
    expect(page.get_by_role("figure")).to_have_count(5)  # one chart per guard, empty before any look
    settled(page, "ops rollout admin")

    confirm(page, "Pause")
    expect(page.get_by_role("status").filter(has_text=f"Rollout {short}: paused.")).to_be_visible()
    confirm(page, "Resume")
    expect(page.get_by_role("status").filter(has_text=f"Rollout {short}: running.")).to_be_visible()
    confirm(page, "Abort")
    expect(page.get_by_role("status").filter(has_text=f"Rollout {short}: aborted.")).to_be_visible()
    expect(decisions.get_by_role("rowheader")).to_have_text(["started", "paused", "resumed", "aborted"])
    expect(page.get_by_role("button", name=re.compile(r"the rollout$"))).to_have_count(0)
    settled(page, "ops rollout aborted admin")
    on_a_phone(page, "ops rollout aborted admin")

    page.goto("/ops/audit?kind=ops.rollout.aborted")
    audit = page.get_by_role("region", name="Audit log table")
    expect(audit.get_by_role("row").filter(has_text=rollout_id).first).to_contain_text(email)


def test_an_operator_reads_rollouts_and_has_no_button_to_change_them(operator_page: OperatorPage) -> None:
    with operator_page("platform_admin", DESKTOP) as admin_page:
        rollout = started_rollout(admin_page, "answerer", "")

    with operator_page("platform_operator", PHONE) as page:
        page.goto("/ops/rollouts?component=answerer")
        row = page.get_by_role("region", name="Rollouts table").get_by_role("row").nth(1)
        expect(row).to_contain_text("answerer")
        fits(page, PHONE["width"])
        settled(page, "ops rollouts operator")
        row.get_by_role("link", name=rollout["rollout_id"][:8], exact=True).click()
        expect(page.get_by_role("region", name="Decisions table").get_by_role("rowheader")).to_have_text(["started"])
        expect(page.get_by_role("button", name=re.compile(r"the rollout$"))).to_have_count(0)
        fits(page, PHONE["width"])
        settled(page, "ops rollout operator")
        csrf = {c["name"]: c["value"] for c in page.context.cookies()}["quarry_csrf"]
        refused = page.request.post(
            f"/v1/ops/rollouts/{rollout['rollout_id']}/abort", data={}, headers={"X-CSRF-Token": csrf}
        )
        assert refused.status == 403 and "rollouts:manage" in refused.text(), refused.text()
