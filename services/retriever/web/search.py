"""The web: ask the provider for candidate pages; fetch one host's pages (as policy allowed), extract,
screen, de-duplicate; chunk and rank them for a query."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind

from contracts.work import Passage
from quarry_runtime.spans import span
from quarry_security.guardrails import strip_injections
from services.retriever.domain.chunking import chunk_text
from services.retriever.domain.dedupe import drop_near_duplicates
from services.retriever.domain.lexical import K1, B
from services.retriever.domain.rank import rank_chunks
from services.retriever.domain.urls import canonical_url
from services.retriever.parsing import ParserPool
from services.retriever.providers import SearchHit, SearchProvider
from services.retriever.web.extract import ExtractionError, OverLimit, extract_page
from services.retriever.web.fetch import FetchRefused, PageFetcher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    title: str
    text: str


@dataclass
class WebCandidates:
    """A search API's results by canonical URL, and what was dropped before any fetch."""

    hits: dict[str, SearchHit] = field(default_factory=dict)
    search_calls: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0


@dataclass
class FetchedPages:
    """Pages fetched and kept, by the URL asked for; `aliases` maps a URL that redirected to a page
    already kept onto the URL that page is kept under."""

    pages: dict[str, WebPage] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    fetches: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    injections: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Breadth:
    """How widely one search reads: pages fetched per search (and at once), passages kept per page."""

    pages_per_search: int = 5
    concurrency: int = 4
    passages_per_page: int = 3


class WebSearch:
    """A search provider's hits turned into citable passages from the pages themselves."""

    def __init__(
        self, provider: SearchProvider, fetcher: PageFetcher, *, parsers: ParserPool, breadth: Breadth = Breadth()
    ) -> None:
        self.provider = provider
        self.fetcher = fetcher
        self.parsers = parsers
        self.breadth = breadth
        self._slots = asyncio.Semaphore(breadth.concurrency)

    @property
    def name(self) -> str:
        return self.provider.name

    async def candidates(self, query: str) -> WebCandidates:
        """The provider's results for `query`, canonical and de-duplicated; nothing is fetched."""
        offered = WebCandidates()
        with span("web search", {"quarry.web.provider": self.name}, SpanKind.CLIENT) as searched:
            hits = await self.provider.search(query, self.breadth.pages_per_search)
            searched.set_attribute("quarry.web.results", len(hits))
        offered.search_calls = 1
        for hit in hits:
            try:
                url = canonical_url(hit.url)
            except ValueError:
                offered.refused["url"] += 1
                continue
            if url in offered.hits:
                offered.duplicates += 1
            else:
                offered.hits[url] = hit
        return offered

    async def fetch(self, urls: Sequence[str], *, host: str) -> FetchedPages:
        """Fetch, extract and screen `urls`, none leaving `host` (the one policy allowed), redirects
        included; exact and near-duplicate pages are dropped. The pages are keyed by the URL asked for."""
        found = FetchedPages()
        with span("web fetch", {"server.address": host, "quarry.web.pages": len(urls)}) as fetching:
            outcomes = await asyncio.gather(*(self._page(url, host) for url in urls))
            fetching.set_attribute("quarry.web.fetched", sum(not isinstance(o, FetchRefused) for o in outcomes))
        by_final: dict[str, str] = {}
        for url, outcome in zip(urls, outcomes, strict=True):
            if isinstance(outcome, FetchRefused):
                found.fetches += outcome.requested
                found.refused[outcome.kind] += 1
                continue
            found.fetches += 1
            if isinstance(outcome, ExtractionError):
                found.refused["over_limit" if isinstance(outcome, OverLimit) else "no_text"] += 1
                continue
            page, injections = outcome
            found.injections.update(injections)
            if page.url in by_final:  # two results redirected to one page
                found.duplicates += 1
                found.aliases[url] = by_final[page.url]
                continue
            by_final[page.url] = url
            found.pages[url] = page
        kept, dropped = drop_near_duplicates(list(found.pages.items()), lambda item: item[1].text)
        found.duplicates += len(dropped)
        found.pages = dict(kept)
        log.info(
            "fetched %d pages: %d kept, %d duplicates, refused %s",
            len(urls), len(found.pages), found.duplicates, dict(found.refused),
        )  # fmt: skip
        return found

    async def _page(
        self, url: str, host: str | None = None
    ) -> tuple[WebPage, list[str]] | FetchRefused | ExtractionError:
        async with self._slots:
            with span("web fetch page", {"url.full": url, "http.request.method": "GET"}, SpanKind.CLIENT) as page:
                try:
                    fetched = await self.fetcher.fetch(url, host=host)
                except FetchRefused as refusal:
                    page.set_attribute("quarry.web.refused", refusal.kind)
                    log.info("not fetched: %s", refusal)
                    return refusal
        try:
            # A bomb of a page takes its worker process down (or over a limit), not the retriever.
            extracted = await self.parsers.run(
                extract_page,
                fetched.body,
                fetched.kind,
                url=fetched.url,
                charset=fetched.charset,
                limits=self.parsers.limits.text,
            )
        except ExtractionError as exc:
            log.info("skipped %s: %s", fetched.url, exc)
            return exc
        # What a page says to the model instead of the reader is cut before anyone quotes it.
        text, in_text = strip_injections(extracted.text)
        title, in_title = strip_injections(extracted.title)
        kinds = [f.kind for f in (*in_text, *in_title)]
        return WebPage(fetched.url, " ".join(title.split()) or fetched.url, text), kinds

    def passages(self, pages: Sequence[WebPage], query: str, limit: int, k1: float = K1, b: float = B) -> list[Passage]:
        """The pages' chunks best ranked for `query` (BM25 with `k1`, `b`), a few per page at most,
        `limit` in all."""
        chunks = [chunk for page in pages for chunk in chunk_text(page.url, page.title, page.text)]
        per_page: Counter[str] = Counter()
        passages: list[Passage] = []
        for chunk, score in rank_chunks(query, chunks, k1, b):
            # A few passages per page, so one long page cannot crowd out the others.
            if per_page[chunk.doc_id] >= self.breadth.passages_per_page:
                continue
            per_page[chunk.doc_id] += 1
            passages.append(
                Passage(
                    source_id=chunk.doc_id, title=chunk.title, location=chunk.location, text=chunk.text, score=score
                )
            )
            if len(passages) >= limit:
                break
        return passages
