"""The retriever's web path against local servers speaking the real protocols: SearXNG, Tavily and
Brave APIs, and a website with boilerplate, robots.txt, binaries, oversized and slow pages,
near-duplicates and an injection attempt."""

from __future__ import annotations

import httpx
import pytest
from fpdf import FPDF

from quarry_security.egress import GuardedTransport
from services.retriever.domain.chunking import chunk_text
from services.retriever.domain.dedupe import drop_near_duplicates, resemblance, shingles
from services.retriever.domain.errors import SearchError
from services.retriever.domain.urls import canonical_url
from services.retriever.web.brave import BraveProvider
from services.retriever.web.extract import ExtractionError, extract_page
from services.retriever.web.fetch import FetchLimits, FetchRefused
from services.retriever.web.http import JsonApi
from services.retriever.web.robots import RobotsRules
from services.retriever.web.searxng import SearxngProvider
from services.retriever.web.tavily import TavilyProvider
from tests.fakes.search_apis import BRAVE_KEY, TAVILY_KEY
from tests.fakes.website import BINARY_PATH, HUGE_PATH, KELP, MIRROR, PRIVATE_PATH, REDIRECT_PATH, SLOW_PATH, TIDE_POOLS
from tests.support.websearch import AGENT, FAST, Servers, fetcher, http, no_sleep, servers, web

__all__ = ["http", "servers", "web"]  # fixtures

# --- URLs and near-duplicates -------------------------------------------------------------------


def test_urls_are_canonicalised_so_one_page_has_one_spelling() -> None:
    same = [
        "HTTP://Example.ORG:80/a/./b/../c?utm_source=x&b=2&a=1#section",
        "http://example.org/a/c?a=1&b=2",
        "http://user:pw@example.org./a/c?b=2&fbclid=abc&a=1",
    ]
    assert {canonical_url(u) for u in same} == {"http://example.org/a/c?a=1&b=2"}
    assert canonical_url("https://example.org:8443") == "https://example.org:8443/"
    assert canonical_url("https://bücher.example/x/") == "https://xn--bcher-kva.example/x/"
    assert canonical_url("http://example.org/a/") != canonical_url("http://example.org/a")
    for bad in ("ftp://example.org/f", "javascript:alert(1)", "/relative/path", "http:///nohost"):
        with pytest.raises(ValueError):
            canonical_url(bad)


def test_near_duplicates_are_dropped_and_the_best_ranked_copy_kept() -> None:
    original, mirror, other = TIDE_POOLS.text, MIRROR.text, KELP.text
    assert resemblance(shingles(original), shingles(mirror)) >= 0.8
    assert resemblance(shingles(original), shingles(other)) < 0.1
    assert resemblance(shingles(original), shingles(original.upper() + " !")) == 1.0
    kept, dropped = drop_near_duplicates(["mirror", "original", "other"], {"mirror": mirror, "original": original, "other": other}.__getitem__)  # fmt: skip
    assert kept == ["mirror", "other"] and dropped == ["original"]
    assert drop_near_duplicates(["", ""], str) == (["", ""], [])  # nothing to compare is no duplicate


# --- extraction ---------------------------------------------------------------------------------


async def test_html_extraction_keeps_the_article_and_its_headings_and_drops_the_boilerplate(
    web: Servers, http: httpx.AsyncClient
) -> None:
    page = await fetcher(http).fetch(web.site_url + TIDE_POOLS.path)
    extracted = extract_page(page.body, page.kind, url=page.url, charset=page.charset)
    assert extracted.title == TIDE_POOLS.title
    for heading, paragraph in TIDE_POOLS.sections:
        assert heading in extracted.text and paragraph[:60] in extracted.text
    for chrome in ("cookies", "newsletter", "Copyright", "Privacy policy", "Sunscreen deals", "Log in"):
        assert chrome not in extracted.text
    chunks = chunk_text(page.url, extracted.title, extracted.text, min_chars=100, max_chars=400)
    locations = [c.location for c in chunks]
    assert any("Zonation of the intertidal zone" in loc for loc in locations)
    zonation = next(c for c in chunks if c.heading == "Zonation of the intertidal zone")
    assert "spray zone" in zonation.text


def test_pdf_and_plain_text_extraction() -> None:
    pdf = FPDF()
    pdf.set_title("Sea level report")
    pdf.set_font("helvetica", size=12)
    for line in ("Sea levels rose by twenty centimetres.", "Storm surges reach further inland."):
        pdf.add_page()
        pdf.multi_cell(0, 8, line)
    extracted = extract_page(bytes(pdf.output()), "pdf", url="http://example.org/r.pdf")
    assert extracted.title == "Sea level report"
    assert "# Page 1\n\nSea levels rose by twenty centimetres." in extracted.text
    assert "# Page 2\n\nStorm surges reach further inland." in extracted.text
    text = extract_page("Heading line\r\nCafé au lait.".encode("latin-1"), "text", url="u", charset="latin-1")
    assert text.title == "Heading line" and text.text == "Heading line\nCafé au lait."
    for body, kind in ((b"%PDF-1.4 garbage", "pdf"), (b"<html><body></body></html>", "html"), (b"  ", "text")):
        with pytest.raises(ExtractionError):
            extract_page(body, kind, url="http://example.org/x")  # type: ignore[arg-type]


# --- fetching -------------------------------------------------------------------------------------


async def test_fetcher_honours_robots_and_refuses_what_it_should_not_read(
    web: Servers, http: httpx.AsyncClient
) -> None:
    fetch = fetcher(http)
    refusals: dict[str, FetchRefused] = {}
    for path in (PRIVATE_PATH, BINARY_PATH, HUGE_PATH, "/articles/missing"):
        with pytest.raises(FetchRefused) as refused:
            await fetch.fetch(web.site_url + path)
        refusals[path] = refused.value
    assert refusals[PRIVATE_PATH].kind == "robots" and not refusals[PRIVATE_PATH].requested
    assert refusals[BINARY_PATH].kind == "content_type" and "application/octet-stream" in str(refusals[BINARY_PATH])
    assert refusals[HUGE_PATH].kind == "too_large"
    assert refusals["/articles/missing"].kind == "status"
    assert PRIVATE_PATH not in web.site.paths()  # never asked for
    assert web.site.paths().count("/robots.txt") == 1  # read once, then cached
    assert {agent for _, agent in web.site.requests} == {AGENT}


async def test_a_slow_page_times_out_within_the_page_deadline(web: Servers, http: httpx.AsyncClient) -> None:
    limits = FetchLimits(connect_timeout_s=1, read_timeout_s=5, page_timeout_s=0.5)  # the deadline, not the read
    with pytest.raises(FetchRefused) as refused:
        await fetcher(http, limits).fetch(web.site_url + SLOW_PATH)
    assert refused.value.kind == "timeout" and refused.value.requested
    with pytest.raises(FetchRefused, match="ReadTimeout"):
        await fetcher(http, FetchLimits(read_timeout_s=0.3)).fetch(web.site_url + SLOW_PATH)


async def test_redirects_are_followed_a_bounded_number_of_times(web: Servers, http: httpx.AsyncClient) -> None:
    page = await fetcher(http).fetch(web.site_url + REDIRECT_PATH + "?utm_campaign=summer")
    assert page.url == web.site_url + KELP.path and page.kind == "html"
    with pytest.raises(FetchRefused) as refused:
        await fetcher(http, FetchLimits(max_redirects=0)).fetch(web.site_url + REDIRECT_PATH)
    assert refused.value.kind == "redirects"


async def test_robots_unreachable_forbids_and_missing_allows(web: Servers, http: httpx.AsyncClient) -> None:
    web.site.robots_status = 503
    with pytest.raises(FetchRefused, match="robots"):
        await fetcher(http).fetch(web.site_url + TIDE_POOLS.path)
    web.site.robots_status = 404
    page = await fetcher(http).fetch(web.site_url + PRIVATE_PATH)  # no rules at all: nothing is off limits
    assert page.url.endswith(PRIVATE_PATH)
    rules = RobotsRules(http, "EvilBot/2.0")  # a group naming the agent applies to it alone
    web.site.robots_status = 200
    assert not await rules.allowed(web.site_url + TIDE_POOLS.path)


async def test_private_addresses_are_refused_unless_allowed(web: Servers) -> None:
    async with httpx.AsyncClient(transport=GuardedTransport(), headers={"User-Agent": AGENT}) as guarded:
        with pytest.raises(FetchRefused) as refused:
            await fetcher(guarded).fetch(web.site_url + TIDE_POOLS.path)
    assert refused.value.kind == "address" and "127.0.0.1" in str(refused.value)
    assert web.site.requests == []  # not even robots.txt was asked for


# --- search APIs ------------------------------------------------------------------------------------


async def test_searxng_json_api(web: Servers) -> None:
    api = JsonApi("searxng", retry=FAST, sleep=no_sleep)
    hits = await SearxngProvider(web.searxng, api).search("kelp forests otters", 3)
    await api.aclose()
    assert [h.url for h in hits][:2] == [web.site_url + KELP.path, web.site_url + REDIRECT_PATH]
    assert len(hits) <= 3 and all(h.title and h.snippet for h in hits)
    (params,) = web.engine.asked("searxng")
    assert params["format"] == "json" and params["q"] == "kelp forests otters"


async def test_tavily_api_with_key_and_a_clear_error_without(web: Servers) -> None:
    api = JsonApi("tavily", retry=FAST, sleep=no_sleep)
    hits = await TavilyProvider(web.tavily, TAVILY_KEY, api).search("tide pools zonation", 4)
    assert 0 < len(hits) <= 4 and hits[0].url == web.site_url + TIDE_POOLS.path
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    sent = web.engine.asked("tavily")[0]
    assert sent["max_results"] == 4 and sent["authorization"] == f"Bearer {TAVILY_KEY}"
    with pytest.raises(SearchError, match="HTTP 401: Unauthorized: missing or invalid API key") as failed:
        await TavilyProvider(web.tavily, "tvly-wrong", api).search("tide pools", 4)
    assert not failed.value.retryable
    assert len(web.engine.asked("tavily")) == 2  # a wrong key is not retried
    await api.aclose()


async def test_brave_api_gives_plain_text_snippets(web: Servers) -> None:
    api = JsonApi("brave", retry=FAST, sleep=no_sleep)
    hits = await BraveProvider(web.brave, BRAVE_KEY, api).search("kelp otters", 2)
    await api.aclose()
    assert len(hits) == 2 and hits[0].url == web.site_url + KELP.path
    assert "<strong>" not in hits[0].snippet and "Kelp forests" in hits[0].snippet
    assert web.engine.asked("brave")[0]["count"] == "2"


async def test_rate_limits_and_server_errors_are_retried_with_backoff(web: Servers) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    api = JsonApi("searxng", retry=FAST, sleep=sleep, rng=lambda: 0.5)
    web.engine.failures.extend([429, 503])
    hits = await SearxngProvider(web.searxng, api).search("tide pools", 5)
    assert hits and len(web.engine.asked("searxng")) == 3
    assert slept == [pytest.approx(0.0075), pytest.approx(0.015)]  # exponential backoff, half jittered
    slept.clear()
    web.engine.failures.append(429)
    assert await TavilyProvider(web.tavily, TAVILY_KEY, api).search("tide pools", 5)
    assert slept == [0.0]  # the wait the server asked for (Retry-After: 0) rather than our own
    web.engine.failures.extend([503, 503, 503])
    with pytest.raises(SearchError, match=r"HTTP 503.*after 3 attempts") as failed:
        await SearxngProvider(web.searxng, api).search("tide pools", 5)
    assert failed.value.retryable
    await api.aclose()
    dead = JsonApi("searxng", retry=FAST, sleep=no_sleep)
    with pytest.raises(SearchError, match="unreachable after 3 attempts") as unreachable:
        await SearxngProvider("http://127.0.0.1:9", dead).search("tide pools", 5)
    assert unreachable.value.retryable
    await dead.aclose()
