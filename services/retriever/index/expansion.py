"""The first of a feedback search's two queries: the query's own terms, read for the terms to add."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from qdrant_client import models

from quarry_text import thesaurus
from services.retriever.domain.feedback import Feedback
from services.retriever.domain.lexical import SparseTerms, in_context, tokenize, weighted_query_vector
from services.retriever.index.points import sparse_vector

SparseQuery = Callable[
    [models.SparseVector, models.Filter, models.SearchParams | None, int, list[str]], list[models.ScoredPoint]
]


def expanded(
    sparse_query: SparseQuery,
    query: str,
    feedback: Feedback,
    where: models.Filter,
    params: models.SearchParams | None,
    related_weight: float = thesaurus.WEIGHT,
    context: str = "",
) -> SparseTerms:
    """The query's vector with the distinctive terms of a first sparse search's best passages added.

    The first search has the same filter and IDF scope as the second, so a tenant's expansion is
    drawn only from what that search may read. `related_weight` weighs the thesaurus's terms.
    """
    weights = in_context(query, context)
    # What only frames the question, and the context's other terms, ride along below the query's
    # own terms as related terms do, never fed back.
    own = [t for t, w in weights.items() if w == 1.0]
    related = {t: w for t, w in weights.items() if w < 1.0}
    if related_weight > 0:
        related = {**dict.fromkeys(thesaurus.related(query, tokenize(query)), related_weight), **related}
    first = sparse_vector(weighted_query_vector({**related, **dict.fromkeys(own, 1.0)}))
    points = sparse_query(first, where, params, feedback.depth, ["title", "heading", "text"])
    ranked = [(tokenize(_indexed(point.payload or {})), point.score) for point in points]
    return weighted_query_vector(feedback.expand(own, ranked, related))


def _indexed(payload: Mapping[str, Any]) -> str:
    # the text the point's stored vector was built from (`indexed_text` of its chunk)
    return f"{payload.get('title', '')}\n{payload.get('heading', '')}\n{payload.get('text', '')}"
