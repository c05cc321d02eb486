"""The retriever's tasks on the web and the tenant's datasets: one web search whole, the sources
a run names, fetch batches held to the host policy, and the provider settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
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
from services.retriever.application.search import owners, search_sources
from services.retriever.bootstrap import RetrieverSettings, web_search
from services.retriever.domain.corpus import Document
from services.retriever.handlers import Components, execute
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents
from services.retriever.providers import SearchProvider
from services.retriever.web.brave import BraveProvider
from services.retriever.web.fetch import FetchRefused
from services.retriever.web.http import JsonApi
from services.retriever.web.search import WebSearch
from services.retriever.web.searxng import SearxngProvider
from services.retriever.web.tavily import TavilyProvider
from tests.fakes.website import AWAY_PATH, INJECTED, KELP, NOTE_PATH, PDF_PATH, PRIVATE_PATH, REDIRECT_PATH, TIDE_POOLS
from tests.support.websearch import PARSERS, Servers, http, servers, web, web_searcher

__all__ = ["http", "servers", "web"]  # fixtures

# --- one web search, whole ----------------------------------------------------------------------------


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


def parts(index: SourceIndex, web: WebSearch | None = None) -> Components:
    """The retriever's lane over one index, for the corpus and the run memory alike."""
    return Components(index=index, memory=index, parsers=PARSERS, web=web)


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
    result = await execute(task(inp), parts(index))
    found = SearchOutput.model_validate(result.output)
    assert {p.source_id for p in found.passages} == {"shared:tides", "upload:pools"}
    assert [(u.tool, u.search_calls) for u in result.usage] == [("web_search", 1)]
    only_ours = await execute(task(inp.model_copy(update={"sources": ["datasets"]})), parts(index))
    assert {p["source_id"] for p in only_ours.output["passages"]} == {"upload:pools"}
    other_tenant = await execute(task(inp.model_copy(update={"sources": ["datasets"]}), tenant="t2"), parts(index))
    assert other_tenant.output["passages"] == []


def read_task(inp: ReadInput, tenant: str = "t1") -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="task-read", kind="read", role="retriever", input=inp.model_dump())
    return TaskDispatched.create(payload, tenant_id=tenant, run_id="run-1")


async def test_a_read_task_searches_only_the_tenants_own_datasets_metered_per_query(index: SourceIndex) -> None:
    inp = ReadInput(dataset=ALL_DATASETS, query="tide pools", limit=5, sub_questions=["when do they fill", "surveys"])
    result = await execute(read_task(inp), parts(index))
    findings = ReadOutput.model_validate(result.output).findings
    assert [f.sub_question for f in findings] == inp.sub_questions
    assert {p.source_id for f in findings for p in f.passages} == {"upload:pools"}  # never the shared corpus
    assert [(u.tool, u.search_calls) for u in result.usage] == [("read_dataset", 2)]
    other = await execute(read_task(inp, tenant="t2"), parts(index))
    assert all(f["passages"] == [] for f in other.output["findings"])
    with pytest.raises(TaskError, match="cannot own datasets"):
        await execute(read_task(inp, tenant=PUBLIC_TENANT), parts(index))


async def test_a_web_search_task_offers_pages_and_fetches_none(
    web: Servers, http: httpx.AsyncClient, index: SourceIndex
) -> None:
    searcher = await web_searcher(web, http)
    inp = SearchInput(question="tide pools", sub_question="tide pools zonation", limit=6, sources=["corpus", "web"])
    result = await execute(task(inp), parts(index, searcher))
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
        c.url for c in SearchOutput.model_validate((await execute(task(inp), parts(index, searcher))).output).candidates
    ]
    wanted = PagesWanted(sub_question=inp.sub_question, query="tide pools zonation tide pools", urls=urls, limit=6)
    batch = FetchInput(url=urls[0], urls=urls, wanted=[wanted])
    result = await execute(fetch_task(batch), parts(index, searcher))
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
            fetch_task(FetchInput(url=allowed, urls=[allowed, stray], wanted=[wanted])), parts(index, searcher)
        )
    assert not refused.value.retryable
    assert web.site.paths() == []  # a batch with a stray page fetches nothing at all
    away = web.site_url + AWAY_PATH
    batch = FetchInput(url=away, urls=[away], wanted=[wanted.model_copy(update={"urls": [away]})])
    result = await execute(fetch_task(batch), parts(index, searcher))
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
        await execute(task(inp), parts(index))
    assert not unconfigured.value.retryable
    searcher = await web_searcher(web, http)
    web.engine.failures.extend([500, 500, 500])
    with pytest.raises(TaskError, match="searxng answered HTTP 500") as down:
        await execute(task(inp), parts(index, searcher))
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
