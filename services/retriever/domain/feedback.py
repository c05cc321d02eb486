"""Pseudo-relevance feedback: the query grown with the corpus's own words for what it asks about.

A question in plain words ("rows as dictionaries") often misses the name the answer is filed under
(`csv.DictReader`). The best passages of a first search do hold it, beside the question's words,
so their most distinctive terms join the query at a lower weight and the search runs again.
"Distinctive" is measured against the first search's wider candidate list: a term every candidate
has tells nothing, one that only the best passages have is what they are about. Only the given
passages and their order decide, so the same corpus and query always expand alike.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quarry_text import stem
from quarry_text.stopwords import KEYWORDS

# Terms are stemmed: "while" is indexed as "whil", so both spellings are left out.
_KEYWORD_TERMS = KEYWORDS | {stem(keyword) for keyword in KEYWORDS}


@dataclass(frozen=True, slots=True)
class Feedback:
    """How far a first search is read and how much of it joins the query."""

    depth: int = 30
    """Candidates of the first search: the background a new term must stand out from."""
    passages: int = 5
    """The best of them, read for new terms."""
    terms: int = 8
    """New terms added at most."""
    weight: float = 0.1
    """Weight of the strongest new term; a query term weighs 1."""
    agree: int = 2
    """Best passages a new term must appear in: one passage alone may be off the subject."""
    short: float = 0.3
    """Weight of a code spelling of a query word found in the passages: `dict` for "dictionaries"."""

    def __post_init__(self) -> None:
        if not (1 <= self.passages <= self.depth and self.terms >= 0):
            raise ValueError("feedback needs 1 <= passages <= depth and terms >= 0")
        if not (0.0 <= self.weight <= 1.0 and 0.0 <= self.short <= 1.0):
            raise ValueError("feedback weights lie in [0, 1]")

    def expand(
        self,
        query: Sequence[str],
        ranked: Sequence[tuple[Sequence[str], float]],
        related: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """The query's terms at 1.0 plus the best new terms of the `ranked` candidates (terms, score;
        best first), and the `related` terms (a thesaurus's) at their own weight."""
        weights = dict.fromkeys(query, 1.0)
        if not weights or not ranked:
            return {**(related or {}), **weights}
        df: Counter[str] = Counter()
        for doc, _ in ranked[: self.depth]:
            df.update(set(doc))
        n = min(len(ranked), self.depth)
        best = ranked[0][1] if ranked[0][1] > 0 else 1.0
        mass: dict[str, float] = {}
        seen: Counter[str] = Counter()
        for doc, score in ranked[: self.passages]:
            if not doc:
                continue
            counts = Counter(doc)
            # a passage holding more of the query speaks more surely of what it asks
            share = max(score, 0.0) / best * sum(q in counts for q in weights) / len(weights) / len(doc)
            for term, count in counts.items():
                if term not in weights and _eligible(term):
                    mass[term] = mass.get(term, 0.0) + share * count
                    seen[term] += 1
        scored = sorted(
            ((m * math.log((n + 1) / df[t]), t) for t, m in mass.items() if seen[t] >= self.agree),
            key=lambda pair: (-pair[0], pair[1]),
        )[: self.terms]
        top = scored[0][0] if scored and scored[0][0] > 0 else 0.0
        for value, term in scored:
            if top > 0 and value > 0 and self.weight > 0:
                weights[term] = self.weight * value / top
        # Code abbreviates what prose spells out (dict, str, int, func, attr): a passage's word that
        # begins a query word is that word as the code names it, whatever its rarity.
        for term in sorted(mass):
            if self.short > 0 and any(len(q) > len(term) and q.startswith(term) for q in query if q.isalpha()):
                weights[term] = max(weights.get(term, 0.0), self.short)
        for term, weight in (related or {}).items():
            weights[term] = max(weights.get(term, 0.0), weight)
        return weights


def _eligible(term: str) -> bool:
    # Words and names; operators, numbers and keywords say too little out of their context to be added blind.
    return len(term) >= 3 and (term[0].isalpha() or term[0] == "_") and term not in _KEYWORD_TERMS
