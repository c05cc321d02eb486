"""The workspace beyond the first journey, in Chromium on a whole stack: every page accessible
and within the screen on a phone and a desktop, the first load within its budget, a report
shared read-only and revoked, and a plan edited before the run goes on."""

from __future__ import annotations

import gzip
import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.browser.pages import fits, on_every_screen, page_on, settled
from tests.browser.test_journey import RUN_S, sign_up, start_run

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WORKSPACE_BUDGET = 250 * 1024  # the workspace's first load, gzipped


def finished_run(page: Page, question: str) -> str:
    """A run started from the form that has published its report; its id."""
    run_id = start_run(page, question, approval=False)
    expect(page.get_by_role("region", name="Report", exact=True)).to_be_visible(timeout=RUN_S)
    return run_id


@on_every_screen
def test_every_workspace_page_passes_axe_and_fits_the_screen(
    browser: Browser, base_url: str, viewport: dict[str, int]
) -> None:
    with page_on(browser, base_url, viewport) as page:
        width = viewport["width"]
        for path in ("/login", "/signup"):
            page.goto(path)
            expect(page.get_by_role("main")).to_be_visible()
            fits(page, width)
            settled(page, f"workspace {path} {width}")
        sign_up(page, f"pages-{uuid.uuid4().hex[:8]}@example.com", f"Pages {width}")
        run_id = finished_run(page, "What does Python's with statement do?")
        fits(page, width)
        settled(page, f"workspace run {width}")
        for path, heading in (
            ("/research", "Research"),
            ("/billing", "Billing"),
            ("/datasets", "Datasets"),
            ("/templates", "Templates"),
            ("/monitors", "Monitors"),
            ("/settings", "Settings"),
        ):
            page.goto(path)
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
            expect(page.get_by_role("status").filter(has_text="Loading")).to_have_count(0)
            fits(page, width)
            settled(page, f"workspace {path} {width}")
        page.goto(f"/research/runs/{run_id}")
        page.get_by_role("button", name="Share").click()
        shared = page.get_by_role("region", name="Share").get_by_role(
            "link", name=re.compile(r"share.[A-Za-z0-9_-]{20,}")
        )
        expect(shared.first).to_be_visible()
        shared.first.click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        fits(page, width)
        settled(page, f"workspace shared report {width}")


def test_the_workspaces_first_load_stays_within_250_kb(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    loaded: list[Response] = []
    page.on("response", lambda r: loaded.append(r))
    page.goto("/login", wait_until="networkidle")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    total = sum(len(gzip.compress(r.body())) for r in loaded if r.ok)
    assert total <= WORKSPACE_BUDGET, f"the workspace's first load is {total} bytes gzipped"
    context.close()


def test_a_shared_report_shows_the_report_and_nothing_else_until_it_is_revoked(browser: Browser, page: Page) -> None:
    sign_up(page, f"share-{uuid.uuid4().hex[:8]}@example.com", "Share Co")
    finished_run(page, "How does Python's import system find modules?")
    share = page.get_by_role("region", name="Share")
    share.get_by_role("button", name="Share").click()
    link = share.get_by_role("link", name=re.compile(r"share.[A-Za-z0-9_-]{20,}"))
    expect(link).to_have_count(1)
    url = link.get_attribute("href")
    assert url and re.fullmatch(r"/share/[A-Za-z0-9_-]{20,}", url), url
    title = page.get_by_role("heading", level=1).inner_text()

    # Someone with the link and no account: the report and its sources, nothing of the workspace.
    anonymous = browser.new_context(base_url=page.url.split("/research", 1)[0])
    reader = anonymous.new_page()
    reader.goto(url)
    expect(reader.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(reader.get_by_role("region", name="Sources", exact=True).get_by_role("listitem").first).to_be_visible()
    expect(reader.get_by_role("navigation", name="Workspace")).to_have_count(0)
    expect(reader.get_by_role("button", name="Log out")).to_have_count(0)
    expect(reader.get_by_role("button", name="Ask a follow-up")).to_have_count(0)
    settled(reader, "shared report")

    share.get_by_role("button", name=re.compile(r"^Revoke share link")).click()
    expect(share.get_by_role("link", name=re.compile(r"share.[A-Za-z0-9_-]{20,}"))).to_have_count(0)
    reader.reload()
    expect(reader.get_by_role("heading", name=re.compile("not found", re.I))).to_be_visible()
    expect(reader.get_by_text(title)).to_have_count(0)
    anonymous.close()


def test_a_plan_edited_before_the_run_goes_on_is_the_plan_it_researches(page: Page) -> None:
    sign_up(page, f"plan-{uuid.uuid4().hex[:8]}@example.com", "Plan Co")
    # Two questions in one: the planner asks each (a plain question gets one sub-question only).
    page.get_by_label("Question").fill("How do Python decorators work, and how do I keep the wrapped function's name?")
    page.get_by_label("Review the plan").check()
    page.get_by_role("button", name="Start research").click()
    review = page.get_by_role("region", name="Review the plan")
    expect(review).to_be_visible(timeout=RUN_S)
    settled(page, "plan review")
    planned = review.get_by_role("textbox", name=re.compile(r"^Sub-question \d+$"))
    count = planned.count()
    assert count >= 2, count
    review.get_by_role("button", name=f"Remove sub-question {count}").click()
    expect(planned).to_have_count(count - 1)
    review.get_by_role("button", name="Add sub-question").click()
    added = "What does functools.wraps preserve?"
    review.get_by_role("textbox", name=f"Sub-question {count}", exact=True).fill(added)
    review.get_by_label("Comment").fill("Narrower, and wraps matters to us.")
    review.get_by_role("button", name="Continue").click()
    report = page.get_by_role("region", name="Report", exact=True)
    expect(report).to_be_visible(timeout=RUN_S)
    # The edited plan is the one researched: the report's method lists what each search returned.
    expect(page.get_by_role("region", name="Plan").get_by_role("listitem").filter(has_text=added)).to_have_count(1)
    expect(report.get_by_role("cell", name=added)).to_be_visible()


def test_buying_credits_and_changing_plan_apply_at_once_in_mock_mode(page: Page) -> None:
    sign_up(page, f"buyer-{uuid.uuid4().hex[:8]}@example.com", "Buyer Co")
    page.goto("/billing")
    plan = page.get_by_role("region", name="Plan and credits")
    expect(plan).to_contain_text(re.compile(r"Plan\s*free"))
    balance = re.search(r"Balance\s*([\d,]+) credits", plan.inner_text())
    assert balance, plan.inner_text()
    before = int(balance.group(1).replace(",", ""))

    buy = page.get_by_role("region", name="Change plan or buy credits")
    expect(buy).to_contain_text("test mode")
    buy.get_by_role("button", name=re.compile(r"^Buy 1,000 credits")).click()
    expect(buy.get_by_role("status")).to_have_text(re.compile(r"^Bought pack_1k"))
    expect(plan).to_contain_text(re.compile(rf"Balance\s*{before + 1000:,} credits"))
    ledger = page.get_by_role("region", name="Ledger table")
    expect(ledger.get_by_role("cell", name="purchased")).to_have_count(1)

    buy.get_by_role("button", name="Change to pro").click()
    expect(buy.get_by_role("status")).to_have_text("Now on the pro plan.")
    expect(plan).to_contain_text(re.compile(r"Plan\s*pro"))
    settled(page, "billing after purchase")
