"""The web application in Chromium on loopback: each page's load time and what it transfers.

A stack serves the built web/dist (as `make up` does); Debian's chromium, driven by Playwright,
opens every public page of the sitemap and the workspace's first load (/login, and /research
signed in), each `--web-loads` times in a fresh context (a cold cache). The baseline, measured
in the same run, is /robots.txt: a static file through the same gateway, so each page's ratio
says what its HTML, CSS and JavaScript cost beyond the server's own round trip.
Budgets (issue 12): a public page ships at most 30 KB of JavaScript gzipped, the workspace's
first load at most 250 KB gzipped.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from bench.report import SummaryRow
from devtools import natsserver
from devtools.browser import INSTALL_HINT, chromium_path
from devtools.client import QuarryClient
from devtools.stack import Stack, StackConfig

REPO = Path(__file__).resolve().parents[1]
WEB_DIST = REPO / "web" / "dist"
PUBLIC_JS_BUDGET = 30 * 1024
WORKSPACE_BUDGET = 250 * 1024
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PASSWORD = "bench-web-password-123"


@dataclass
class PageFigures:
    path: str
    load_ms: list[float] = field(default_factory=list)
    transfer_bytes: int = 0  # as served (the gateway's encoding), every response of the load
    js_gzip_bytes: int = 0  # the page's JavaScript, gzipped
    all_gzip_bytes: int = 0  # everything the page loaded, gzipped

    @property
    def median_ms(self) -> float:
        return statistics.median(self.load_ms) if self.load_ms else float("nan")


def run(console: Console, loads: int = 5) -> list[SummaryRow]:
    from playwright.sync_api import sync_playwright  # a dev dependency: only this benchmark needs it

    console.rule("[bold]Web pages in Chromium")
    chromium = chromium_path()
    if chromium is None:
        raise RuntimeError(f"no Chromium: {INSTALL_HINT}")
    if not (WEB_DIST / "index.html").is_file():
        raise RuntimeError(f"{WEB_DIST} is not built: run make web")
    with tempfile.TemporaryDirectory(prefix="quarry-bench-web-") as tmp:
        config = StackConfig(
            data_dir=Path(tmp),
            http_port=natsserver.free_port(),
            restart=False,
            extra_env={"QUARRY_WEB_DIST": str(WEB_DIST)},
        )
        stack = Stack(config)
        base = f"http://127.0.0.1:{config.http_port}"
        try:
            with console.status("starting the stack..."):
                stack.start()
                stack.wait_healthy(timeout_s=240)
            email = f"bench-web-{uuid.uuid4().hex[:8]}@example.com"
            client = QuarryClient(base)
            client.signup(email, PASSWORD, "Bench web")
            client.close()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium)
                try:
                    figures = _measure(browser, base, email, loads)
                finally:
                    browser.close()
        finally:
            with console.status("stopping every process..."):
                stack.stop()
    return _report(console, figures)


def _measure(browser: object, base: str, email: str, loads: int) -> list[PageFigures]:
    from playwright.sync_api import Browser, Page, Response

    assert isinstance(browser, Browser)
    probe = browser.new_page()
    sitemap = probe.request.get(f"{base}/sitemap.xml")
    paths = [urlsplit(loc.text or "").path for loc in ET.fromstring(sitemap.body()).iter(f"{SITEMAP}loc")]
    probe.close()
    targets: list[tuple[str, bool]] = [("/robots.txt", False)] + [(p, False) for p in paths]
    targets += [("/login", False), ("/research", True)]
    out: list[PageFigures] = []
    for path, signed_in in targets:
        fig = PageFigures(path if not signed_in else f"{path} (signed in)")
        for _ in range(loads):
            context = browser.new_context(base_url=base)
            page: Page = context.new_page()
            if signed_in:
                _log_in(page, email)
            responses: list[Response] = []
            page.on("response", responses.append)
            page.goto(path, wait_until="load")
            page.wait_for_load_state("networkidle")
            timing = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n ? n.loadEventEnd - n.startTime : performance.now(); }"
            )
            fig.load_ms.append(float(timing))
            bodies = [(r, r.body()) for r in responses if r.ok]
            fig.transfer_bytes = sum(len(b) for _, b in bodies)
            fig.all_gzip_bytes = sum(len(gzip.compress(b)) for _, b in bodies)
            fig.js_gzip_bytes = sum(len(gzip.compress(b)) for r, b in bodies if r.request.resource_type == "script")
            context.close()
        out.append(fig)
    return out


def _log_in(page: object, email: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/research")
    # Back to a blank page: the timed load is the page's own, with the session cookie set (its
    # assets are in the cache by now, as they are for a user who has just logged in).
    page.goto("about:blank")


def _report(console: Console, figures: list[PageFigures]) -> list[SummaryRow]:
    baseline = figures[0].median_ms
    table = Table(title="page loads (median of cold loads)")
    for col in ("page", "load ms", "x robots.txt", "transfer KB", "gzip KB", "JS gzip KB", "budget"):
        table.add_column(col, justify="left" if col == "page" else "right")
    rows: list[SummaryRow] = []
    for fig in figures:
        workspace = fig.path.startswith(("/login", "/research"))
        budget = WORKSPACE_BUDGET if workspace else PUBLIC_JS_BUDGET
        spent = fig.all_gzip_bytes if workspace else fig.js_gzip_bytes
        verdict = "" if fig is figures[0] else ("ok" if spent <= budget else "OVER")
        ratio = fig.median_ms / baseline if baseline else float("nan")
        table.add_row(
            fig.path,
            f"{fig.median_ms:.0f}",
            f"{ratio:.2f}",
            f"{fig.transfer_bytes / 1024:.1f}",
            f"{fig.all_gzip_bytes / 1024:.1f}",
            f"{fig.js_gzip_bytes / 1024:.1f}",
            verdict,
        )
        if fig is not figures[0]:
            what = "first load gzip KB" if workspace else "JS gzip KB"
            rows.append(
                SummaryRow(
                    "web",
                    f"{fig.path}: load {ratio:.2f}x robots.txt, {what}",
                    f"{spent / 1024:.1f}",
                    f"<= {budget // 1024}",
                    verdict,
                )
            )
    console.print(table)
    return rows
