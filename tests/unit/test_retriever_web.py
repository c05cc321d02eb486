"""The retriever's web path against local servers speaking the real protocols: SearXNG, Tavily and
Brave APIs, and a website with boilerplate, robots.txt, binaries, oversized and slow pages,
near-duplicates and an injection attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fpdf import FPDF
from pydantic import ValidationError
from qdrant_client import QdrantClient

from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import (
    ALL_DATASETS,
    FetchInput,
    FetchOutput,
    PagesWanted,
    ReadInput,
    ReadOutput,
    SearchInput,
    SearchOutput,
)
from quarry_runtime.worker import TaskError
from quarry_security.egress import GuardedTransport
from services.retriever.application.search import owners, search_sources
from services.retriever.bootstrap import RetrieverSettings, web_search
from services.retriever.domain.chunking import chunk_text
from services.retriever.domain.corpus import Document
from services.retriever.domain.dedupe import drop_near_duplicates, resemblance, shingles
from services.retriever.domain.errors import SearchError
from services.retriever.domain.urls import canonical_url
from services.retriever.handlers import execute
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents
from services.retriever.parsing import ParseLimits, ParserPool
from services.retriever.providers import SearchProvider
from services.retriever.web.brave import BraveProvider
from services.retriever.web.extract import ExtractionError, extract_page
from services.retriever.web.fetch import FetchLimits, FetchRefused, PageFetcher
from services.retriever.web.http import JsonApi, RetryPolicy
from services.retriever.web.robots import RobotsRules
from services.retriever.web.search import WebSearch
from services.retriever.web.searxng import SearxngProvider
from services.retriever.web.tavily import TavilyProvider
from tests.fakes.search_apis import BRAVE_KEY, TAVILY_KEY, IndexedPage, SearchEngine, brave_app, searxng_app, tavily_app
from tests.fakes.serving import serve_app
from tests.fakes.website import (
    AWAY_PATH,
    BINARY_PATH,
    HUGE_PATH,
    INJECTED,
    KELP,
    MIRROR,
    NOTE_PATH,
    PDF_PATH,
    PRIVATE_PATH,
    REDIRECT_PATH,
    SLOW_PATH,
    TIDE_POOLS,
    Website,
)

AGENT = "QuarryBot/1.0 (+https://example.org/bot)"
FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)
PARSERS = ParserPool(ParseLimits(workers=1))
LIMITS = FetchLimits(connect_timeout_s=2, read_timeout_s=1, page_timeout_s=1.5, max_bytes=1024 * 1024)


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


# --- one web search, whole ----------------------------------------------------------------------------


async def web_searcher(web: Servers, http: httpx.AsyncClient) -> WebSearch:
    provider = SearxngProvider(web.searxng, JsonApi("searxng", retry=FAST, sleep=no_sleep))
    return WebSearch(provider, fetcher(http), parsers=PARSERS, pages_per_search=20)


async def test_a_web_search_keeps_clean_distinct_allowed_pages(web: Servers, http: httpx.AsyncClient) -> None:
    searcher = await web_searcher(web, http)
    offered = await searcher.candidates("tide pools")
    assert offered.search_calls == 1 and web.site.paths() == []
    fetched = await searcher.fetch(list(offered.hits), host="127.0.0.1")
    pages = list(fetched.pages.values())
    urls = {p.url.removeprefix(web.site_url) for p in pages}
    assert urls == {TIDE_POOLS.path, INJECTED.path, KELP.path, NOTE_PATH, PDF_PATH}
    # the mirror resembles the tide-pools article; the short link redirects to the kelp page
    assert fetched.duplicates == 2
    assert fetched.aliases == {web.site_url + REDIRECT_PATH: web.site_url + KELP.path}
    assert fetched.refused == {"robots": 1, "content_type": 1, "too_large": 1, "timeout": 1}
    assert fetched.fetches == 10  # every page asked for; robots refusal asks none
    assert fetched.injections == {"ignore_instructions": 1, "prompt_exfiltration": 1}
    guide = next(p for p in pages if p.url.endswith(INJECTED.path))
    assert "Ignore all previous instructions" not in guide.text and "Crabs and anemones" in guide.text
    passages = searcher.passages(pages, "tide pools zonation threats", 8)
    assert 0 < len(passages) <= 8
    assert passages[0].source_id == web.site_url + TIDE_POOLS.path
    assert all(p.source_id.startswith(web.site_url) and p.location for p in passages)
    assert any(p.location.startswith("§ Page") for p in passages)  # the PDF cites its page
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert all("Copyright" not in p.text and "cookies" not in p.text for p in passages)


# --- choosing sources per run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index() -> Iterator[SourceIndex]:
    idx = SourceIndex(QdrantClient(":memory:"))
    idx.ensure_collection()
    ingest_documents(
        idx, [Document("shared:tides", "Tides explained", "Tide pools fill at high tide. " * 20)], PUBLIC_TENANT
    )
    ingest_documents(idx, [Document("upload:pools", "Our pool survey", "Tide pools we surveyed in 2025. " * 20)], "t1")
    yield idx
    idx.close()


def task(inp: SearchInput, tenant: str = "t1") -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="task-search", kind="search", role="retriever", input=inp.model_dump())
    return TaskDispatched.create(payload, tenant_id=tenant, run_id="run-1")


def test_sources_name_whose_documents_are_read() -> None:
    assert owners(["corpus", "datasets"], "t1") == [PUBLIC_TENANT, "t1"]
    assert owners(["datasets"], "t1") == ["t1"]
    assert owners(["web"], "t1") == []
    with pytest.raises(ValidationError):
        SearchInput(question="q", sub_question="s", limit=3, sources=[])
    with pytest.raises(ValidationError):
        SearchInput(question="q", sub_question="s", limit=3, sources=["intranet"])


async def test_default_sources_are_the_corpus_and_the_tenants_datasets(index: SourceIndex) -> None:
    inp = SearchInput(question="tide pools", sub_question="when do tide pools fill", limit=5)
    result = await execute(task(inp), index, index)
    found = SearchOutput.model_validate(result.output)
    assert {p.source_id for p in found.passages} == {"shared:tides", "upload:pools"}
    assert [(u.tool, u.search_calls) for u in result.usage] == [("web_search", 1)]
    only_ours = await execute(task(inp.model_copy(update={"sources": ["datasets"]})), index, index)
    assert {p["source_id"] for p in only_ours.output["passages"]} == {"upload:pools"}
    other_tenant = await execute(task(inp.model_copy(update={"sources": ["datasets"]}), tenant="t2"), index, index)
    assert other_tenant.output["passages"] == []


def read_task(inp: ReadInput, tenant: str = "t1") -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="task-read", kind="read", role="retriever", input=inp.model_dump())
    return TaskDispatched.create(payload, tenant_id=tenant, run_id="run-1")


async def test_a_read_task_searches_only_the_tenants_own_datasets_metered_per_query(index: SourceIndex) -> None:
    inp = ReadInput(dataset=ALL_DATASETS, query="tide pools", limit=5, sub_questions=["when do they fill", "surveys"])
    result = await execute(read_task(inp), index, index)
    findings = ReadOutput.model_validate(result.output).findings
    assert [f.sub_question for f in findings] == inp.sub_questions
    assert {p.source_id for f in findings for p in f.passages} == {"upload:pools"}  # never the shared corpus
    assert [(u.tool, u.search_calls) for u in result.usage] == [("read_dataset", 2)]
    other = await execute(read_task(inp, tenant="t2"), index, index)
    assert all(f["passages"] == [] for f in other.output["findings"])
    with pytest.raises(TaskError, match="cannot own datasets"):
        await execute(read_task(inp, tenant=PUBLIC_TENANT), index, index)


async def test_a_web_search_task_offers_pages_and_fetches_none(
    web: Servers, http: httpx.AsyncClient, index: SourceIndex
) -> None:
    searcher = await web_searcher(web, http)
    inp = SearchInput(question="tide pools", sub_question="tide pools zonation", limit=6, sources=["corpus", "web"])
    result = await execute(task(inp), index, index, searcher)
    found = SearchOutput.model_validate(result.output)
    assert [p.source_id for p in found.passages] == ["shared:tides"]
    assert "upload:pools" not in {p.source_id for p in found.passages}
    offered = {c.url.removeprefix(web.site_url) for c in found.candidates}
    assert {TIDE_POOLS.path, PRIVATE_PATH, REDIRECT_PATH} <= offered
    # Fetching is its own tool: the search asks nothing of the site, not even robots.txt.
    assert web.site.paths() == []
    assert [(u.tool, u.search_calls) for u in result.usage] == [("web_search", 2)]
    assert result.trips == []


def fetch_task(inp: FetchInput, tenant: str = "t1") -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="task-fetch", kind="fetch", role="retriever", input=inp.model_dump())
    return TaskDispatched.create(payload, tenant_id=tenant, run_id="run-1")


async def test_a_fetch_task_fetches_one_hosts_pages_metered_and_screened(
    web: Servers, http: httpx.AsyncClient, index: SourceIndex
) -> None:
    searcher = await web_searcher(web, http)
    inp = SearchInput(question="tide pools", sub_question="tide pools zonation", limit=6, sources=["web"])
    urls = [
        c.url for c in SearchOutput.model_validate((await execute(task(inp), index, index, searcher)).output).candidates
    ]
    wanted = PagesWanted(sub_question=inp.sub_question, query="tide pools zonation tide pools", urls=urls, limit=6)
    batch = FetchInput(url=urls[0], urls=urls, wanted=[wanted])
    result = await execute(fetch_task(batch), index, index, searcher)
    (finding,) = FetchOutput.model_validate(result.output).findings
    assert finding.sub_question == inp.sub_question and len(finding.passages) == 6
    assert finding.passages[0].source_id == web.site_url + TIDE_POOLS.path
    assert all(p.source_id.startswith(web.site_url) for p in finding.passages)
    assert [(u.tool, u.search_calls) for u in result.usage] == [("fetch_url", 10)]
    (trip,) = result.trips
    assert (trip.guardrail, trip.where, trip.action) == ("prompt_injection", "source", "stripped")
    assert trip.counts == {"ignore_instructions": 1, "prompt_exfiltration": 1}


async def test_a_fetch_batch_never_leaves_the_host_policy_allowed(
    web: Servers, http: httpx.AsyncClient, index: SourceIndex
) -> None:
    searcher = await web_searcher(web, http)
    allowed = web.site_url + TIDE_POOLS.path
    stray = allowed.replace("127.0.0.1", "localhost")
    wanted = PagesWanted(sub_question="zonation", query="zonation", urls=[allowed, stray], limit=3)
    with pytest.raises(TaskError, match=r"not on '127\.0\.0\.1'") as refused:
        await execute(
            fetch_task(FetchInput(url=allowed, urls=[allowed, stray], wanted=[wanted])), index, index, searcher
        )
    assert not refused.value.retryable
    assert web.site.paths() == []  # a batch with a stray page fetches nothing at all
    away = web.site_url + AWAY_PATH
    batch = FetchInput(url=away, urls=[away], wanted=[wanted.model_copy(update={"urls": [away]})])
    result = await execute(fetch_task(batch), index, index, searcher)
    assert FetchOutput.model_validate(result.output).findings[0].passages == []
    assert web.site.paths() == ["/robots.txt", AWAY_PATH]  # the redirect to localhost was not followed
    with pytest.raises(FetchRefused, match=r"not on 127\.0\.0\.1") as off:
        await searcher.fetcher.fetch(away, host="127.0.0.1")
    assert off.value.kind == "off_host"


async def test_web_search_failures_become_clear_task_errors(
    web: Servers, http: httpx.AsyncClient, index: SourceIndex
) -> None:
    inp = SearchInput(question="tide pools", sub_question="zonation", limit=3, sources=["web"])
    with pytest.raises(TaskError, match="no web search API is configured") as unconfigured:
        await execute(task(inp), index, index, None)
    assert not unconfigured.value.retryable
    searcher = await web_searcher(web, http)
    web.engine.failures.extend([500, 500, 500])
    with pytest.raises(TaskError, match="searxng answered HTTP 500") as down:
        await execute(task(inp), index, index, searcher)
    assert down.value.retryable
    assert await search_sources(inp.model_copy(update={"sources": ["corpus"]}), "t1", index, None)


# --- settings ---------------------------------------------------------------------------------------------


def test_settings_pick_a_configured_provider_and_refuse_an_unconfigured_one(tmp_path: Any) -> None:
    assert web_search(RetrieverSettings(data_dir=tmp_path), PARSERS) == (None, [])
    s = RetrieverSettings(data_dir=tmp_path, searxng_url="http://127.0.0.1:8888", tavily_api_key="tvly-x")
    assert s.configured_providers() == ["searxng", "tavily"]
    searcher, closers = web_search(s, PARSERS)
    assert searcher is not None and searcher.name == "searxng" and len(closers) == 1
    chosen, _ = web_search(s.model_copy(update={"web_search_provider": "tavily"}), PARSERS)
    assert chosen is not None and chosen.name == "tavily"
    with pytest.raises(ValidationError, match="QUARRY_BRAVE_API_KEY"):
        RetrieverSettings(data_dir=tmp_path, web_search_provider="brave")
    with pytest.raises(ValidationError, match="http"):
        RetrieverSettings(data_dir=tmp_path, searxng_url="searx.local:8080")


def test_the_provider_protocol_is_met_by_every_provider() -> None:
    api = JsonApi("x")
    providers: list[SearchProvider] = [
        SearxngProvider("http://s", api),
        TavilyProvider("http://t", "k", api),
        BraveProvider("http://b", "k", api),
    ]
    assert [p.name for p in providers] == ["searxng", "tavily", "brave"]
