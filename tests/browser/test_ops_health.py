"""The console's health views in Chromium on a whole stack, sampling and beating often: a platform
operator finds every service up on the Services page, sees a service killed and brought back by
the supervisor counted as a restart, and opens a consumer's lag trend on the Consumers page, a
chart named by the sentence beside it. Each page passes axe and fits a phone."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from devtools import natsserver
from devtools.stack import Stack, StackConfig
from quarry_security.natsauth import SERVICES
from tests.browser.conftest import healthy_stack
from tests.browser.pages import DESKTOP, on_a_phone, settled
from tests.browser.test_ops import OperatorPage, operator_page

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
__all__ = ["operator_page"]  # fixtures

KILLED = "policy"


@pytest.fixture(scope="module")
def web_stack(built_web: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The browser tests' stack, its consumers sampled every 2 s and its instances beating every second."""
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("browser-health"),
        http_port=natsserver.free_port(),
        extra_env={
            "QUARRY_WEB_DIST": str(built_web),
            "QUARRY_LAG_SAMPLE_INTERVAL_S": "2",
            "QUARRY_HEARTBEAT_INTERVAL_S": "1",
        },
    )
    with healthy_stack(config) as stack:
        yield stack


def services(page: Page) -> dict[str, dict[str, Any]]:
    """The services as the signed-in operator's API answers them."""
    r = page.request.get("/v1/ops/services")
    assert r.ok, r.text()
    return {s["service"]: s for s in r.json()["services"]}


def read_until(page: Page, button: Locator, check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Press `button` (the page's "read again") until `check` holds."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        page.wait_for_timeout(1000)
        button.click()


def test_an_operator_sees_every_service_up_and_a_killed_one_counted_as_a_restart(
    operator_page: OperatorPage, web_stack: Stack
) -> None:
    with operator_page("platform_operator", DESKTOP) as page:
        page.goto("/ops")
        page.get_by_role("navigation", name="Operations").get_by_role("link", name="Services").click()
        expect(page).to_have_url(re.compile(r"/ops/services$"))
        expect(page.get_by_role("heading", name="Services", level=1)).to_be_visible()
        table = page.get_by_role("region", name="Services table")
        up = table.get_by_text(re.compile(r"^up \(1 alive\)$"))
        # An instance's first heartbeat may come before its probes' first checks (not ready yet).
        read_until(page, page.get_by_role("button", name="Read again"), lambda: up.count() == len(SERVICES), "all up")
        for service in SERVICES:
            row = table.get_by_role("row", name=re.compile(rf"^{service}\b"))
            expect(row.get_by_text(re.compile(r"^up \(1 alive\)$"))).to_be_visible()
        settled(page, "ops services operator")
        on_a_phone(page, "ops services operator")

        before = services(page)[KILLED]
        assert before["alive"] == 1
        web_stack.kill(KILLED)  # kill -9; the stack's supervisor starts a new instance
        restarts = before["restarts"] + 1
        row = table.get_by_role("row", name=re.compile(rf"^{KILLED}\b"))
        shown = f"{restarts} restart{'' if restarts == 1 else 's'} of {before['starts'] + 1} starts in 1 d"
        read_until(
            page,
            page.get_by_role("button", name="Read again"),
            lambda: row.get_by_text(shown).count() == 1 and row.get_by_text("up (1 alive)", exact=True).count() == 1,
            f"{KILLED}'s restart on the page, and its new instance ready",
        )
        expect(row.get_by_text(re.compile(r"^up \(1 alive\)$"))).to_be_visible()
        expect(row.get_by_text(re.compile(r"stale, version .*, silent"))).to_be_visible()
        settled(page, "ops services after a restart")


def test_an_operator_opens_a_consumers_lag_trend(operator_page: OperatorPage) -> None:
    with operator_page("platform_operator", DESKTOP) as page:
        page.goto("/ops/consumers")
        expect(page.get_by_role("heading", name="Consumers", level=1)).to_be_visible()
        show = page.get_by_role("button", name="Show trend of reporter-lane")
        show.click()
        expect(page.get_by_role("button", name="Hide trend of reporter-lane")).to_have_attribute(
            "aria-expanded", "true"
        )
        trend = page.get_by_role("figure", name="Lag trend of reporter-lane")
        caption = trend.locator("figcaption")

        def samples() -> int:
            found = re.match(r"^(\d+) samples", caption.inner_text())
            return int(found.group(1)) if found else 0

        read_until(
            page, trend.get_by_role("button", name="Read the trend again"), lambda: samples() >= 2, "two samples"
        )
        chart = trend.get_by_role("img", name=re.compile(r"^\d+ samples over the last hour; now caught up"))
        expect(chart).to_be_visible()
        assert chart.locator("polyline").count() >= 1
        trend.get_by_label("Over the", exact=True).select_option(label="last 24 hours")
        expect(trend.get_by_text(re.compile(r"samples over the last 24 hours"))).to_be_visible()
        settled(page, "ops consumer trend")
        on_a_phone(page, "ops consumer trend")
