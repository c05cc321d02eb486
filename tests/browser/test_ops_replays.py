"""The console's admin pages in Chromium on a whole stack: a platform admin replays the event log
once a run has ended, sees the replay end `identical` and reads its report; the audit log lists
that replay's start and its kind filter keeps only that kind; the correlation view shows the run's
cost per step. A platform operator sees neither page in the console's navigation, is told they are
not allowed, and the API refuses them too. Each page passes axe and fits a phone."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.stack import Stack
from services.gateway.adapters.platform_audit import KINDS
from tests.browser.pages import DESKTOP, PHONE, fits, on_a_phone, settled
from tests.browser.test_journey import start_run
from tests.browser.test_ops import OperatorPage, operator_page, operator_signed_in, until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["operator_page"]  # fixtures

RUN_S = 180.0  # a run of the offline stack ends
REPLAY_MS = 120_000  # a replay of a small stream ends (the page polls every 2 s)
ENDED = frozenset({"completed", "failed", "cancelled", "rejected", "expired"})


def ended(page: Page, run_id: str) -> bool:
    r = page.request.get(f"/v1/runs/{run_id}")
    return r.ok and r.json()["state"] in ENDED


def test_an_admin_replays_the_event_log_and_finds_its_start_in_the_audit_log(
    page: Page, web_stack: Stack, tmp_path: Path
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    email = operator_signed_in(page, web_stack, "platform_admin", tmp_path)
    run_id = start_run(page, "What does Python's with statement do?", approval=False)
    # Replayed once the run has ended: the live read models then hold every event the rebuild reads.
    until(lambda: ended(page, run_id), "the run ended", timeout_s=RUN_S)

    page.goto("/ops")
    nav = page.get_by_role("navigation", name="Operations")
    nav.get_by_role("link", name="Replays", exact=True).click()
    expect(page.get_by_role("heading", name="Replays", level=1)).to_be_visible()
    settled(page, "ops replays admin before")
    page.get_by_role("button", name="Replay the event log").click()
    asked = page.get_by_role("group", name=re.compile(r"^Rebuild the read models from the event stream"))
    asked.get_by_role("button", name="Replay", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=re.compile(r"^Replay \w+… started"))).to_be_visible()
    row = page.get_by_role("region", name="Replays table").get_by_role("row").nth(1)
    expect(row).to_contain_text(email)
    expect(row.get_by_role("cell").first).to_have_text("identical", timeout=REPLAY_MS)
    expect(row).to_contain_text("read models identical to the rebuild")
    settled(page, "ops replays admin")
    on_a_phone(page, "ops replays admin")

    row.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Replay [0-9a-f]{8}$"), level=1)).to_be_visible()
    expect(page.get_by_text("identical: the rebuild matches the live read models")).to_be_visible()
    counts = page.get_by_role("region", name="Counts table")
    runs = counts.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Runs"))
    expect(runs.get_by_role("cell").last).to_have_text("yes")
    expect(page.get_by_role("heading", name="Differences", level=2)).to_be_visible()
    expect(page.get_by_text("None.", exact=True)).to_be_visible()
    settled(page, "ops replay report admin")
    on_a_phone(page, "ops replay report admin")

    # The audit log: the replay's start is on record, and the kind filter keeps only that kind.
    page.goto("/ops")
    page.get_by_role("navigation", name="Operations").get_by_role("link", name="Audit log").click()
    kinds = page.get_by_label("Kind").locator("option").all_inner_texts()
    assert set(kinds) == {"every kind", *KINDS}, kinds
    table = page.get_by_role("region", name="Audit log table")
    expect(table.get_by_role("row").filter(has_text="ops.replay.started").first).to_contain_text(email)
    expect(table.get_by_role("row").filter(has_text="ops.read").first).to_be_visible()
    form = page.get_by_role("form", name="Audit log filters")
    form.get_by_label("Kind").select_option("ops.replay.started")
    form.get_by_label("Actor").fill(email)
    form.get_by_role("button", name="Filter", exact=True).click()
    expect(page).to_have_url(re.compile(r"kind=ops\.replay\.started"))
    rows = table.get_by_role("row")
    expect(rows).to_have_count(2)  # the header and the one replay this admin started
    expect(rows.nth(1).get_by_role("cell").first).to_have_text("ops.replay.started")
    settled(page, "ops audit admin")
    on_a_phone(page, "ops audit admin")

    # The correlation view adds the run's cost per step.
    page.goto(f"/ops/runs/{run_id}")
    costs = page.get_by_role("region", name="Cost per step table")
    expect(costs).to_be_visible(timeout=15_000)
    expect(costs.get_by_role("rowheader", name=re.compile(r"^plan"))).to_be_visible()
    settled(page, "ops run costs admin")
    on_a_phone(page, "ops run costs admin")


def test_an_operator_sees_neither_page_and_is_not_allowed_them(operator_page: OperatorPage) -> None:
    with operator_page("platform_operator", PHONE) as page:
        page.goto("/ops")
        nav = page.get_by_role("navigation", name="Operations")
        expect(nav.get_by_role("link", name="Streams")).to_be_visible()
        expect(nav.get_by_role("link", name="Replays")).to_have_count(0)
        expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
        pages = (
            ("/ops/replays", "Replays"),
            (f"/ops/replays/{uuid.uuid4().hex}", "Replay"),
            ("/ops/audit", "Audit log"),
        )
        for path, heading in pages:
            page.goto(path)
            expect(page.get_by_role("heading", name=heading, level=1, exact=True)).to_be_visible()
            refused = page.get_by_role("alert").filter(has_text=re.compile(r"^Not allowed: .* platform admins only\.$"))
            expect(refused).to_be_visible()
            fits(page, PHONE["width"])
            settled(page, f"ops not allowed {heading} operator")
        assert page.request.get("/v1/ops/replays").status == 403
        assert page.request.get("/v1/ops/audit").status == 403
