"""Redundancy in a draft: which sentences say what another already says, and picking by MMR."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.analyst.domain.selection import Candidate
from services.analyst.domain.text import cosine

MMR_LAMBDA = 0.7
# At or above this two sentences say the same thing; only one may appear in a draft.
NEAR_DUPLICATE = 0.8


def is_duplicate(c: Candidate, others: Iterable[Candidate]) -> bool:
    """Whether `c` says what one of `others` says: the same words, or, under the same label, a
    verbatim part of it (a list claim's step quoted again on its own)."""
    return any(quotes(o, c) or cosine(c.shape, o.shape) >= NEAR_DUPLICATE for o in others)


def quotes(holder: Candidate, c: Candidate) -> bool:
    """Whether `holder` says all `c` says: the same text, or `c`'s text as whole words of it and
    under the same label ("Temporary files." under `tempfile` is not a part of another's sentence)."""
    low, held = c.text.lower(), holder.text.lower()
    if low == held:
        return True
    at = held.find(low)
    if at < 0 or holder.label != c.label:
        return False
    end = at + len(low)
    return (at == 0 or not held[at - 1].isalnum()) and (end == len(held) or not held[end].isalnum())


def mmr(
    candidates: Sequence[Candidate],
    relevance: Sequence[float],
    k: int,
    *,
    lam: float = MMR_LAMBDA,
) -> list[Candidate]:
    """Maximal marginal relevance: up to k relevant candidates, each unlike those already picked."""
    picked: list[Candidate] = []
    pool = [(c, r) for c, r in zip(candidates, relevance, strict=True) if r > 0]
    while pool and len(picked) < k:

        def gain(item: tuple[Candidate, float]) -> float:
            redundancy = max((cosine(item[0].vec, p.vec) for p in picked), default=0.0)
            return lam * item[1] - (1 - lam) * redundancy

        best = max(pool, key=gain)
        picked.append(best[0])
        pool = [(c, r) for c, r in pool if c is not best[0] and not is_duplicate(c, [best[0]])]
    return picked
