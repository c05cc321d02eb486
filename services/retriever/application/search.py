"""The search task: look where the run asked (corpus, the tenant's datasets, the web) and merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.work import Passage, SearchInput, SearchOutput, SourceKind, WebCandidate
from quarry_runtime.ranking import interleave
from services.retriever.domain.errors import WebUnavailable
from services.retriever.domain.ranking import Ranking
from services.retriever.index import PUBLIC_TENANT, SourceIndex
from services.retriever.providers import CorpusProvider
from services.retriever.translate import passage_of
from services.retriever.web.search import WebCandidates, WebSearch

DEFAULT_SOURCES: tuple[SourceKind, ...] = ("corpus", "datasets")
MAX_URL = 2048  # what `fetch_url`'s input schema accepts


@dataclass
class Found:
    """A search's output and the work behind it, for metering and guardrail events."""

    output: SearchOutput
    corpus_calls: int = 0
    web: WebCandidates | None = None


def owners(sources: Sequence[SourceKind], tenant_id: str) -> list[str]:
    """Whose indexed documents a search reads: the shared corpus's owner, the tenant, or both."""
    chosen: list[str] = []
    if "corpus" in sources:
        chosen.append(PUBLIC_TENANT)
    if "datasets" in sources and tenant_id not in chosen:
        chosen.append(tenant_id)
    return chosen


async def search_sources(
    inp: SearchInput, tenant_id: str, index: SourceIndex, web: WebSearch | None, ranking: Ranking | None = None
) -> Found:
    """Passages for one sub-question from every source the input names (default: corpus and datasets)."""
    sources = inp.sources or list(DEFAULT_SOURCES)
    if "web" in sources and web is None:
        raise WebUnavailable("the run asks for web sources and no web search API is configured on the retriever")
    lists: list[list[Passage]] = []
    found = Found(SearchOutput(sub_question=inp.sub_question, passages=[]))
    readers = owners(sources, tenant_id)
    if readers:
        # Chosen datasets narrow the tenant's own documents; the shared corpus is read as the sources say.
        chosen = {tenant_id: list(inp.datasets)} if inp.datasets and "datasets" in sources else None
        # The sub-question is searched for, in the context of the question it belongs to.
        hits = await CorpusProvider(index, readers, chosen, ranking).search(inp.sub_question, inp.limit, inp.question)
        found.corpus_calls = 1
        lists.append([passage_of(h) for h in hits])
    candidates: list[WebCandidate] = []
    if "web" in sources and web is not None:
        # Search engines take the sub-question as asked. The pages are not fetched here: each host
        # is its own `fetch_url` decision, asked by the orchestrator over these candidates.
        found.web = await web.candidates(inp.sub_question)
        candidates = [
            WebCandidate(url=url, title=hit.title[:1000]) for url, hit in found.web.hits.items() if len(url) <= MAX_URL
        ]
    found.output = SearchOutput(
        sub_question=inp.sub_question, passages=interleave(lists, inp.limit), candidates=candidates
    )
    return found
