"""The runtime inspector's Cost panel in Chromium, on a whole stack whose analyst answers from a
model (a local OpenAI-compatible server), so the run's steps spend tokens: the panel shows the
run's steps with their tokens and the credits billing charged, accessible, and fits a phone."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from devtools.stack import Stack
from tests.browser.conftest import healthy_stack
from tests.browser.pages import PHONE, fits, settled
from tests.browser.test_journey import RUN_S, sign_up, start_run
from tests.support.stack import live_analyst_config

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

MODEL = "fake-planner"
TOKENS = re.compile(r"^[1-9][\d,]* in / [1-9][\d,]* out")
CREDITS = re.compile(r"^[1-9][\d,]* credits?")


@pytest.fixture(scope="module")
def web_stack(built_web: Path, tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[Stack]:
    """The browser tests' stack (see conftest), its analyst on the local model."""
    config = live_analyst_config(tmp_path_factory.mktemp("inspector"), llm_url, MODEL, QUARRY_WEB_DIST=str(built_web))
    with healthy_stack(config) as stack:
        yield stack


def test_the_cost_panel_shows_each_step_with_its_tokens_and_the_credits_charged(page: Page) -> None:
    sign_up(page, f"costs-{uuid.uuid4().hex[:8]}@example.com", "Costs Co")
    start_run(page, "How does the with statement work and what are context managers?", approval=False)
    expect(page.get_by_role("region", name="Report", exact=True)).to_be_visible(timeout=RUN_S)

    table = page.get_by_role("table", name=re.compile("Cost per step"))
    # Billing settles once the run has ended; the panel asks again as the log grows.
    expect(page.get_by_text(re.compile(r"Billing settled [1-9][\d,]* credits? for this run"))).to_be_visible(
        timeout=60_000
    )
    for kind in ("plan", "synthesise"):
        cells = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(f"^{kind}")))
        expect(cells.first.get_by_role("cell").nth(2)).to_have_text(TOKENS)
        expect(cells.first.get_by_role("cell").nth(2)).to_contain_text(MODEL)
        expect(cells.first.get_by_role("cell").nth(4)).to_have_text(CREDITS)
    searches = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile("^search")))
    expect(searches.first.get_by_role("cell").nth(3)).to_contain_text("web_search")
    total = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Total"))
    expect(total.get_by_role("cell").nth(2)).to_have_text(TOKENS)
    expect(total.get_by_role("cell").nth(4)).to_have_text(CREDITS)
    settled(page, "inspector cost panel")

    page.set_viewport_size(ViewportSize(width=PHONE["width"], height=PHONE["height"]))
    expect(page.get_by_role("region", name="Cost per step table")).to_be_visible()
    fits(page, PHONE["width"])
    settled(page, "inspector cost panel phone")
