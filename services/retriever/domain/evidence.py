"""Document evidence: a passage judged also by the rest of its document.

A question in words its answer does not use meets each passage of the right document only in part:
a module's overview has one of its words, one function's entry two others, a class's entry a
third. Each alone loses to a passage elsewhere that happens to hold more of
the question's words, yet together they say which document is about the question. So the first
`depth` passages of a search are read as votes for their documents (a document's `best` passage
scores added up), and each document's best passage gains a reciprocal-rank share of its document's
place in that vote, beside its own place in the search (reciprocal rank fusion, as for hybrid search).
Only a document's best passage gains: lifting all of them would fill the first results with one
document's pieces, where a research run needs the several sources that answer it. The first `keep`
passages stay first: what the search is surest of is what an answer is written from.

Only the given passages and their order decide, so the same search always reranks alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contracts.work import Passage
from services.retriever.domain.fusion import K as RRF_K


@dataclass(frozen=True, slots=True)
class Evidence:
    """How far a search is read for its documents' votes, and what a vote weighs."""

    depth: int = 60
    """Passages of the search read as votes: the candidates reranked."""
    best: int = 2
    """A document's best passages whose scores add up to its vote: more than one, so a document that
    answers in several places outweighs one lucky passage; few, so a long document is not favoured."""
    weight: float = 0.5
    """Weight of a document's place in the vote beside its passage's own place in the search (1)."""
    keep: int = 5
    """First passages of the search kept where they are: what it is surest of is not displaced."""
    k: int = RRF_K

    def __post_init__(self) -> None:
        if not (self.depth >= 1 and self.best >= 1 and self.k >= 0 and self.keep >= 0):
            raise ValueError("document evidence needs depth >= 1, best >= 1, k >= 0 and keep >= 0")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError("document evidence's weight lies in [0, 1]")

    def rerank(self, passages: Sequence[Passage], limit: int) -> list[Passage]:
        """The first `limit` of `passages` (a search's, best first) reordered by their documents' evidence.

        A passage keeps the search's score, capped by the score of the passage before it.
        """
        candidates = list(passages[: self.depth])
        if not candidates or self.weight == 0:
            return list(passages[:limit])
        votes: dict[str, list[float]] = {}
        for p in candidates:
            scores = votes.setdefault(p.source_id, [])
            if len(scores) < self.best:  # candidates come best first
                scores.append(max(p.score, 0.0))
        order = sorted(votes, key=lambda doc: -sum(votes[doc]))  # stable: ties keep first-met order
        place = {doc: rank for rank, doc in enumerate(order, 1)}
        fused: list[tuple[float, int]] = []
        lifted = {p.source_id for p in candidates[: self.keep]}
        for rank, p in enumerate(candidates, 1):
            value = 1.0 / (self.k + rank)
            if rank <= self.keep:
                value += 1.0  # ahead of every passage not kept, in their own order
            elif p.source_id not in lifted:
                lifted.add(p.source_id)
                value += self.weight / (self.k + place[p.source_id])
            fused.append((value, rank - 1))
        fused.sort(key=lambda pair: (-pair[0], pair[1]))
        out: list[Passage] = []
        for _, i in fused[:limit]:
            p = candidates[i]
            # its own score, capped by the one before it so scores still fall as the list goes on
            out.append(p if not out or p.score <= out[-1].score else p.model_copy(update={"score": out[-1].score}))
        return out
