"""Pure scoring of one evaluated question: retrieval recall, answer coverage, citation faults."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from contracts.work import Draft, Passage
from services.analyst.domain.text import normalise, tokenize

RRF_K = 60


def fused_ranking(result_lists: Sequence[Sequence[Passage]], k: int = RRF_K) -> list[Passage]:
    """The run's searches as one ranking: reciprocal rank fusion over the per-sub-question lists.

    A passage found by several sub-questions rises; ties keep first-seen order.
    """
    scores: dict[tuple[str, str], float] = {}
    first: dict[tuple[str, str], Passage] = {}
    for passages in result_lists:
        for rank, p in enumerate(passages, 1):
            key = (p.source_id, p.location)
            first.setdefault(key, p)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = sorted(first, key=lambda key: -scores[key])
    return [first[key] for key in order]


def recall_at(ranking: Sequence[Passage], expected: Iterable[str], k: int) -> float:
    """Share of the expected documents that at least one of the top `k` passages comes from."""
    wanted = set(expected)
    if not wanted:
        raise ValueError("a question must name at least one document")
    found = {p.source_id for p in ranking[:k]}
    return len(wanted & found) / len(wanted)


def claims_text(draft: Draft) -> str:
    return " ".join(c.text for c in [*draft.summary, *(c for s in draft.sections for c in s.claims)])


def fact_covered(fact: str, answer: str) -> bool:
    """A fact is covered when the answer holds every content term of it (stemmed), or quotes it."""
    terms = set(tokenize(fact))
    if not terms:
        return normalise(fact).casefold() in normalise(answer).casefold()
    return terms <= set(tokenize(answer))


def fabricated_citations(draft: Draft, retrieved: Iterable[Passage]) -> list[str]:
    """Cited sources that no search of the run returned (by source and location)."""
    seen = {(p.source_id, p.location) for p in retrieved}
    return [f"{s.source_id} {s.location}" for s in draft.sources if (s.source_id, s.location) not in seen]
