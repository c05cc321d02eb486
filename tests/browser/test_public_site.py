"""The public site as a reader and a crawler meet it: static HTML that works without
JavaScript, each page with its own title, description, canonical URL and Open Graph tags,
listed in the sitemap, accessible, on a phone and a desktop."""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Response, expect

from tests.browser.pages import fits, on_every_screen, page_on, settled

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
PUBLIC_JS_BUDGET = 30 * 1024  # gzipped, every script a public page loads


def public_paths(page: Page, base_url: str) -> list[str]:
    """Every page the sitemap lists, as paths on this stack (the sitemap carries the public origin)."""
    r = page.request.get(f"{base_url}/sitemap.xml")
    assert r.ok, r.status
    paths = [urlsplit(loc.text or "").path for loc in ET.fromstring(r.body()).iter(f"{SITEMAP}loc")]
    assert {"/", "/pricing", "/docs", "/blog"} <= {p.rstrip("/") or "/" for p in paths}, paths
    return paths


def head_of(page: Page) -> dict[str, str | None]:
    return {
        "title": page.title(),
        "description": page.locator('meta[name="description"]').get_attribute("content"),
        "canonical": page.locator('link[rel="canonical"]').get_attribute("href"),
        "og:title": page.locator('meta[property="og:title"]').get_attribute("content"),
        "og:description": page.locator('meta[property="og:description"]').get_attribute("content"),
        "og:url": page.locator('meta[property="og:url"]').get_attribute("content"),
    }


def test_every_public_page_is_static_html_with_its_own_metadata(browser: Browser, base_url: str) -> None:
    # No JavaScript at all: what a crawler and a reader without it get.
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    heads: dict[str, dict[str, str | None]] = {}
    for path in public_paths(page, base_url):
        response = page.goto(path)
        assert response is not None and response.ok, (path, response and response.status)
        expect(page.get_by_role("main")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        heads[path] = head_of(page)
        assert all(heads[path].values()), (path, heads[path])
        assert urlsplit(heads[path]["canonical"] or "").path == path, (path, heads[path]["canonical"])
        assert 50 <= len(heads[path]["description"] or "") <= 200, (path, heads[path]["description"])
    titles = [h["title"] for h in heads.values()]
    descriptions = [h["description"] for h in heads.values()]
    assert len(set(titles)) == len(titles), titles
    assert len(set(descriptions)) == len(descriptions), descriptions
    context.close()


@on_every_screen
def test_every_public_page_passes_axe_and_fits_the_screen(
    browser: Browser, base_url: str, viewport: dict[str, int]
) -> None:
    with page_on(browser, base_url, viewport) as page:
        for path in public_paths(page, base_url):
            page.goto(path)
            expect(page.get_by_role("main")).to_be_visible()
            fits(page, viewport["width"])  # nothing wider than the screen: no sideways scrolling on a phone
            settled(page, f"public {path} {viewport['width']}")


def test_public_pages_ship_at_most_30_kb_of_javascript(page: Page, base_url: str) -> None:
    scripts: list[Response] = []
    page.on("response", lambda r: scripts.append(r) if r.request.resource_type == "script" else None)
    for path in public_paths(page, base_url):
        scripts.clear()
        page.goto(path, wait_until="load")
        total = sum(len(gzip.compress(r.body())) for r in scripts)
        assert total <= PUBLIC_JS_BUDGET, (path, total)


def test_the_landing_page_leads_to_pricing_docs_and_sign_up(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("link", name=re.compile("sign up", re.I)).first).to_be_visible()
    page.get_by_role("link", name=re.compile("read the docs", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/docs/?$"))
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pricing").click()
    expect(page).to_have_url(re.compile(r"/pricing/?$"))
    for plan in ("free", "pro", "enterprise"):
        expect(page.get_by_role("heading", name=re.compile(plan, re.I))).to_be_visible()


def test_the_blog_has_a_feed_and_the_robots_file_points_at_the_sitemap(page: Page, base_url: str) -> None:
    feed = page.request.get(f"{base_url}/blog/feed.xml")
    assert feed.ok and "xml" in feed.headers["content-type"], feed.headers
    entries = ET.fromstring(feed.body()).findall(f"{ATOM}entry")
    assert len(entries) >= 3, len(entries)
    for entry in entries:
        assert entry.findtext(f"{ATOM}title") and entry.findtext(f"{ATOM}updated")
        assert entry.find(f"{ATOM}author") is not None
    robots = page.request.get(f"{base_url}/robots.txt")
    assert robots.ok and re.search(r"(?im)^sitemap:\s*\S+/sitemap\.xml$", robots.text()), robots.text()
    page.goto("/blog")
    page.get_by_role("main").get_by_role("article").first.get_by_role("link").first.click()
    structured = page.locator('script[type="application/ld+json"]').first.text_content() or ""
    assert '"BlogPosting"' in structured, structured


def test_an_unknown_page_is_a_404_with_a_way_home(page: Page) -> None:
    response = page.goto("/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("link", name=re.compile("home|quarry", re.I)).first).to_be_visible()
