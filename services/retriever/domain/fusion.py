"""Reciprocal rank fusion of ranked lists (Cormack, Clarke and Buettcher, 2009)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = 60
"""The constant of RRF's 1 / (k + rank): large enough that one list's top hit does not drown the rest."""

Id = TypeVar("Id", bound=Hashable)


def rrf(rankings: Sequence[Sequence[Id]], k: int = K) -> list[tuple[Id, float]]:
    """Items of several rankings (best first) fused by sum of 1 / (k + rank), best first.

    Ties keep the order in which items were first met, list by list, so the result is deterministic.
    """
    if k < 0:
        raise ValueError("k must not be negative")
    scores: dict[Id, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
