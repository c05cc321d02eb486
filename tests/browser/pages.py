"""What every browser test checks at a settled point: axe-core's verdict and a screenshot."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page

from tests.browser.conftest import ARTEFACTS, AXE

# Violations a user meets: axe's "serious" and "critical" impacts fail a test.
BLOCKING = frozenset({"serious", "critical"})


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, which the page's Content-Security-Policy does not
        # govern: a <script> tag would be refused, and the page is tested under its real CSP.
        page.evaluate("(source) => { (0, eval)(source); }", AXE.read_text())
    result: dict[str, Any] = page.evaluate("async () => await window.axe.run(document)")
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
