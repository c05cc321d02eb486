"""Local servers speaking the search APIs the retriever uses (SearXNG, Tavily, Brave) over a
website of its own, and a client and fetcher of them as the retriever makes them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from quarry_security.egress import GuardedTransport
from services.retriever.parsing import ParseLimits, ParserPool
from services.retriever.web.fetch import FetchLimits, PageFetcher
from services.retriever.web.http import JsonApi, RetryPolicy
from services.retriever.web.robots import RobotsRules
from services.retriever.web.search import Breadth, WebSearch
from services.retriever.web.searxng import SearxngProvider
from tests.fakes.search_apis import IndexedPage, SearchEngine, brave_app, searxng_app, tavily_app
from tests.fakes.serving import serve_app
from tests.fakes.website import Website

AGENT = "QuarryBot/1.0 (+https://example.org/bot)"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)
PARSERS = ParserPool(ParseLimits(workers=1))
# Roomy enough for an ordinary local page on a loaded machine, short of the slow page's SLOW_S.
LIMITS = FetchLimits(connect_timeout_s=2, read_timeout_s=3, page_timeout_s=4, max_bytes=1024 * 1024)


@dataclass
class Servers:
    site: Website
    site_url: str
    engine: SearchEngine
    searxng: str
    tavily: str
    brave: str


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    site, engine = Website(), SearchEngine()
    with (
        serve_app(site.app, "website") as site_url,
        serve_app(searxng_app(engine), "searxng") as searxng,
        serve_app(tavily_app(engine), "tavily") as tavily,
        serve_app(brave_app(engine), "brave") as brave,
    ):
        engine.pages = [IndexedPage(site_url + path, title, text) for path, title, text in site.catalogue()]
        yield Servers(site, site_url, engine, searxng, tavily, brave)


@pytest.fixture
def web(servers: Servers) -> Servers:
    servers.site.requests.clear()
    servers.site.robots_status = 200
    servers.engine.requests.clear()
    servers.engine.failures.clear()
    return servers


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=GuardedTransport(allow_private=True), headers={"User-Agent": AGENT}
    ) as client:
        yield client


def fetcher(http: httpx.AsyncClient, limits: FetchLimits = LIMITS) -> PageFetcher:
    return PageFetcher(http, RobotsRules(http, AGENT), limits)


async def no_sleep(_: float) -> None:
    return None


async def web_searcher(web: Servers, http: httpx.AsyncClient) -> WebSearch:
    provider = SearxngProvider(web.searxng, JsonApi("searxng", retry=FAST, sleep=no_sleep))
    return WebSearch(provider, fetcher(http), parsers=PARSERS, breadth=Breadth(pages_per_search=20))
