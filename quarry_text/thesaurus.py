"""Words people ask with beside the words documentation answers with.

A question says "folder", "biggest" or "one after another"; the reference that answers it says
"directory", "largest" and "chain". Without a dense model nothing bridges the two, and feedback
from a first search cannot add what that search never found. Each group holds words and
phrases used for one idea in programming questions and in reference text; a question that uses
one member gets the others' terms at a lower weight. A word with a second common sense ("count
as false", "tests", "times") is left out, or given only as a phrase, since it would add noise to
every question that uses it in that sense. The groups are general vocabulary, not
answers: they name ideas, never which module or function holds them, so they help on any corpus
of programming documentation and change nothing a question does not touch. The groups themselves
are data, in `quarry_text.vocabulary`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from quarry_text.analyzer import terms
from quarry_text.stopwords import KEYWORDS
from quarry_text.vocabulary import GROUPS

__all__ = ["GROUPS", "WEIGHT", "related", "relatives_of"]

WEIGHT = 0.4
"""Weight of a related term; the question's own terms weigh 1."""


@cache
def _index() -> tuple[dict[str, tuple[int, ...]], tuple[re.Pattern[str] | None, ...]]:
    """Each single word's stem -> the groups it is in; each group's phrases as one pattern.

    Compiled once: a search per phrase per question overflows `re`'s own cache of patterns."""
    words: dict[str, list[int]] = {}
    phrases: list[re.Pattern[str] | None] = []
    for n, group in enumerate(GROUPS):
        spelled = [re.escape(m) for m in group if " " in m]
        phrases.append(re.compile(rf"\b(?:{'|'.join(spelled)})\b") if spelled else None)
        for member in group:
            if " " not in member:
                for term in terms(member):
                    words.setdefault(term, []).append(n)
    return {term: tuple(groups) for term, groups in words.items()}, tuple(phrases)


@cache
def _group_terms(n: int) -> tuple[str, ...]:
    """The group's terms but the keywords only its phrases hold: the "in" of "in parallel" says
    little out of its code, while a keyword the group lists as a word ("yield", "lambda") is the idea."""
    words = {member for member in GROUPS[n] if " " not in member}
    return tuple(
        dict.fromkeys(term for member in GROUPS[n] for term in terms(member) if term not in KEYWORDS or member in words)
    )


def _groups_of(text: str, own: Iterable[str]) -> set[int]:
    words, phrases = _index()
    found = {n for term in own for n in words.get(term, ())}
    lowered = " ".join(re.findall(r"[a-z0-9]+", text.casefold()))
    for n, pattern in enumerate(phrases):
        if n not in found and pattern is not None and pattern.search(lowered):
            found.add(n)
    return found


def related(text: str, own: Iterable[str] | None = None) -> dict[str, float]:
    """The terms of the words related to `text`'s (weighted WEIGHT), apart from `text`'s own terms.

    `own` are `text`'s terms when the caller has them already.
    """
    mine = set(terms(text) if own is None else own)
    out: dict[str, float] = {}
    for n in sorted(_groups_of(text, mine)):
        for term in _group_terms(n):
            if term not in mine:
                out[term] = WEIGHT
    return out


@cache
def _word_relatives() -> dict[str, frozenset[str]]:
    """Each one-word member's terms -> the group's other one-word terms: a keyword a group lists as
    a word ("yield", "lambda") is the idea, as in `_group_terms`."""
    out: dict[str, set[str]] = {}
    for group in GROUPS:
        words = {t for member in group if " " not in member for t in terms(member)}
        for term in words:
            out.setdefault(term, set()).update(words - {term})
    return {term: frozenset(relatives) for term, relatives in out.items()}


def relatives_of(term: str) -> frozenset[str]:
    """The one-word terms that share a group with `term` (a term as `terms` gives it): the words a
    text may use where a question uses `term` ("directory" for "folder")."""
    return _word_relatives().get(term, frozenset())
