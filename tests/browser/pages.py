"""What every browser test checks at a settled point: axe-core's verdict and a screenshot, and
that the page fits the screen, a phone's as well as a desktop's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import ARTEFACTS, AXE

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# A test of a page's fit and accessibility, run once on each screen as its `viewport` argument.
on_every_screen = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])

# Violations a user meets: axe's "serious" and "critical" impacts fail a test.
BLOCKING = frozenset({"serious", "critical"})


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, which the page's Content-Security-Policy does not
        # govern: a <script> tag would be refused, and the page is tested under its real CSP.
        page.evaluate("(source) => { (0, eval)(source); }", AXE.read_text())
    # Every rule runs as before; "violations" only spares axe building selectors and details for
    # the passing and inapplicable nodes (axe-core's API.md, "Performance"), which go unread here.
    result: dict[str, Any] = page.evaluate("async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in BLOCKING]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def settled(page: Page, name: str) -> None:
    """At a point where the page has settled: no blocking axe violation, and a full-page
    screenshot kept under test-results/screenshots/."""
    violations = axe_violations(page)
    shot = ARTEFACTS / "screenshots" / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-')}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert not violations, f"axe-core on {page.url}:\n{describe(violations)}"


@contextmanager
def page_on(browser: Browser, base_url: str, viewport: dict[str, int]) -> Iterator[Page]:
    """A page in a context of its own (no other test's session) on a screen of `viewport`'s size."""
    context = browser.new_context(viewport=viewport, base_url=base_url)  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


def fits(page: Page, width: int) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{page.url} is {overflow}px wide on a {width}px screen"


def on_a_phone(page: Page, name: str) -> None:
    """The page as it stands, again on a phone: within the screen, and axe's verdict there."""
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    fits(page, PHONE["width"])
    settled(page, f"{name} phone")
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
