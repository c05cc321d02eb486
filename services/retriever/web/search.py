"""One web search: ask the provider, fetch the pages, extract, screen, de-duplicate, chunk and rank."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from contracts.work import Passage
from quarry_runtime.guardrails import strip_injections
from services.retriever.chunking import chunk_text
from services.retriever.parsing import ParserPool
from services.retriever.providers import SearchHit, SearchProvider
from services.retriever.web.dedupe import drop_near_duplicates
from services.retriever.web.extract import ExtractionError, OverLimit, extract_page
from services.retriever.web.fetch import FetchRefused, PageFetcher
from services.retriever.web.rank import rank_chunks
from services.retriever.web.urls import canonical_url

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    title: str
    text: str


@dataclass
class WebFindings:
    """The passages found, and what it took: calls to meter, pages kept and dropped, and why."""

    passages: list[Passage] = field(default_factory=list)
    search_calls: int = 0
    fetches: int = 0
    pages: list[WebPage] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    injections: Counter[str] = field(default_factory=Counter)


class WebSearch:
    """A search provider's hits turned into citable passages from the pages themselves."""

    def __init__(
        self,
        provider: SearchProvider,
        fetcher: PageFetcher,
        *,
        parsers: ParserPool,
        pages_per_search: int = 5,
        concurrency: int = 4,
        passages_per_page: int = 3,
    ) -> None:
        self.provider = provider
        self.fetcher = fetcher
        self.parsers = parsers
        self.pages_per_search = pages_per_search
        self.passages_per_page = passages_per_page
        self._slots = asyncio.Semaphore(concurrency)

    @property
    def name(self) -> str:
        return self.provider.name

    async def search(self, query: str, limit: int, *, rank_query: str | None = None) -> WebFindings:
        """Passages answering `query` (ranked by `rank_query`, default the query), at most `limit`.

        A provider failure raises `SearchError`; a page that cannot be had is skipped and counted.
        """
        found = WebFindings()
        hits = await self.provider.search(query, self.pages_per_search)
        found.search_calls = 1
        candidates: dict[str, SearchHit] = {}
        for hit in hits:
            try:
                url = canonical_url(hit.url)
            except ValueError:
                found.refused["url"] += 1
                continue
            if url in candidates:
                found.duplicates += 1
            else:
                candidates[url] = hit
        outcomes = await asyncio.gather(*(self._page(url) for url in candidates))
        pages: dict[str, WebPage] = {}
        for outcome in outcomes:
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
            if page.url in pages:  # two results redirected to one page
                found.duplicates += 1
                continue
            pages[page.url] = page
        kept, dropped = drop_near_duplicates(list(pages.values()), lambda p: p.text)
        found.duplicates += len(dropped)
        found.pages = kept
        found.passages = self._passages(kept, rank_query or query, limit)
        log.info(
            "web search %r via %s: %d hits, %d pages kept, %d duplicates, refused %s",
            query[:80], self.name, len(hits), len(kept), found.duplicates, dict(found.refused),
        )  # fmt: skip
        return found

    async def _page(self, url: str) -> tuple[WebPage, list[str]] | FetchRefused | ExtractionError:
        async with self._slots:
            try:
                fetched = await self.fetcher.fetch(url)
            except FetchRefused as refusal:
                log.info("not fetched: %s", refusal)
                return refusal
        limits = self.parsers.limits
        try:
            # A bomb of a page takes its worker process down (or over a limit), not the retriever.
            extracted = await self.parsers.run(
                extract_page,
                fetched.body,
                fetched.kind,
                url=fetched.url,
                charset=fetched.charset,
                max_chars=limits.max_chars,
                max_pages=limits.max_pages,
            )
        except ExtractionError as exc:
            log.info("skipped %s: %s", fetched.url, exc)
            return exc
        # What a page says to the model instead of the reader is cut before anyone quotes it.
        text, in_text = strip_injections(extracted.text)
        title, in_title = strip_injections(extracted.title)
        kinds = [f.kind for f in (*in_text, *in_title)]
        return WebPage(fetched.url, " ".join(title.split()) or fetched.url, text), kinds

    def _passages(self, pages: list[WebPage], query: str, limit: int) -> list[Passage]:
        chunks = [chunk for page in pages for chunk in chunk_text(page.url, page.title, page.text)]
        per_page: Counter[str] = Counter()
        passages: list[Passage] = []
        for chunk, score in rank_chunks(query, chunks):
            # A few passages per page, so one long page cannot crowd out the others.
            if per_page[chunk.doc_id] >= self.passages_per_page:
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
