"""The fetch task: one host's pages, fetched under the `fetch_url` decision policy made about that host."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from contracts.work import FetchInput, FetchOutput, SearchOutput
from services.retriever.domain.errors import OffHost
from services.retriever.domain.ranking import BUILT_IN, Ranking
from services.retriever.meters import count_fetches, count_off_host
from services.retriever.web.search import WebSearch


@dataclass
class Fetched:
    """A fetch task's output and what it took, for metering and guardrail events."""

    output: FetchOutput
    fetches: int = 0
    injections: Counter[str] = field(default_factory=Counter)


async def fetch_batch(inp: FetchInput, web: WebSearch, ranking: Ranking = BUILT_IN) -> Fetched:
    """Fetch the batch's pages (never leaving its host) and rank them for each sub-question that offered them."""
    host = urlsplit(inp.url).hostname
    # Policy saw `url` only: every other page must be on its host, or it was never authorised.
    strays = [url for url in inp.urls if urlsplit(url).hostname != host]
    if not host or strays:
        count_off_host(len(inp.urls))
        raise OffHost(f"{len(strays)} page(s) of the batch are not on {host!r}, the host fetch_url was allowed for")
    pages = await web.fetch(inp.urls, host=host)
    count_fetches(pages)
    findings = []
    for wanted in inp.wanted:
        keys = dict.fromkeys(pages.aliases.get(url, url) for url in wanted.urls if url in inp.urls)
        offered = [pages.pages[key] for key in keys if key in pages.pages]
        passages = web.passages(offered, wanted.query, wanted.limit, ranking.k1, ranking.b)
        findings.append(SearchOutput(sub_question=wanted.sub_question, passages=passages))
    return Fetched(FetchOutput(findings=findings), fetches=pages.fetches, injections=pages.injections)
