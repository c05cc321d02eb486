"""A hybrid search: the BM25 and dense rankings of one query fused by reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal

from qdrant_client import QdrantClient, models

from contracts.work import Passage
from services.retriever.domain.fusion import K as RRF_K
from services.retriever.domain.fusion import rrf
from services.retriever.domain.lexical import SparseTerms
from services.retriever.index.points import DENSE, VECTOR, passage, sparse_vector

Fusion = Literal["qdrant", "client"]
# Candidates each ranking contributes to the fusion, per result asked for.
_PREFETCH_FACTOR = 4
_MIN_PREFETCH = 40


def search(
    client: QdrantClient,
    collection: str,
    server: Callable[[], AbstractContextManager[None]],
    fusion: Fusion,
    terms: SparseTerms,
    dense: list[float],
    where: models.Filter,
    params: models.SearchParams | None,
    limit: int,
) -> list[Passage]:
    """Best matches by both rankings, fused in Qdrant (Query API) or here; every call made inside `server()`."""
    candidates = max(limit * _PREFETCH_FACTOR, _MIN_PREFETCH)
    legs = [models.Prefetch(query=dense, using=DENSE, filter=where, limit=candidates)]
    if terms.indices:
        legs.insert(
            0, models.Prefetch(query=sparse_vector(terms), using=VECTOR, filter=where, params=params, limit=candidates)
        )
    if fusion == "qdrant":
        with server():
            response = client.query_points(
                collection,
                prefetch=legs,
                query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                query_filter=where,
                limit=limit,
                with_payload=True,
            )
        return [passage(point) for point in response.points]
    rankings: list[list[models.ScoredPoint]] = []
    for leg in legs:
        with server():
            response = client.query_points(
                collection,
                query=leg.query,
                using=leg.using,
                query_filter=where,
                search_params=leg.params,
                limit=candidates,
                with_payload=True,
            )
        rankings.append(response.points)
    points = {point.id: point for ranking in rankings for point in ranking}
    fused = rrf([[point.id for point in ranking] for ranking in rankings])[:limit]
    return [passage(points[pid], score) for pid, score in fused]
