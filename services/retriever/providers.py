"""Search providers behind one interface: a query in, ranked hits (url, title, snippet) out."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.retriever.domain.ranking import Ranking
from services.retriever.index import SourceIndex


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result. `location` is set when the hit is already a citable passage (a chunk of a
    local document), `snippet` then being its whole text; web hits leave it None and are fetched."""

    url: str
    title: str
    snippet: str
    score: float = 0.0
    location: str | None = None


class SearchProvider(Protocol):
    """Anything that answers a query with hits, best first."""

    @property
    def name(self) -> str: ...

    async def search(self, query: str, limit: int) -> list[SearchHit]: ...


class CorpusProvider:
    """The Qdrant source index as a provider: BM25 over the chunks of the given owners.

    `datasets` narrows an owner it names to the chunks of those datasets only.
    """

    name = "corpus"

    def __init__(
        self,
        index: SourceIndex,
        owners: Sequence[str],
        datasets: Mapping[str, Sequence[str]] | None = None,
        ranking: Ranking | None = None,
    ) -> None:
        if not owners:
            raise ValueError("a corpus search needs at least one owner")
        self.index = index
        self.owners = list(owners)
        self.datasets = dict(datasets or {})
        self.ranking = ranking

    async def search(self, query: str, limit: int, context: str = "") -> list[SearchHit]:
        # One query over every owner, so IDF and scores are comparable across them.
        passages = await asyncio.to_thread(
            self.index.search, query, self.owners, limit, None, self.datasets or None, self.ranking, context
        )
        return [SearchHit(p.source_id, p.title, p.text, p.score, p.location) for p in passages]
