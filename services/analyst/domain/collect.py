"""Merge the searches' findings into one de-duplicated set of passages per sub-question.

Copies are found across every sub-question at once and each group of copies gets one canonical
passage: the best-scored copy. A sub-question that retrieved any copy keeps the canonical passage
(once), with its own best score. Keeping it per sub-question matters because synthesis groups
passages by sub-question, places each sentence in the section it fits best and spends the source
budget round-robin over sections; dropping a passage from a later sub-question would starve that
section. Using the canonical copy everywhere makes mirrors of one text one source in the draft,
not several competing for `max_sources`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from contracts.work import CollectInput, CollectOutput, Passage, SearchOutput
from services.analyst.domain.text import normalise

# At or above this token-set Jaccard two texts are the same passage (a mirror, a re-crawl, a tweak).
NEAR_IDENTICAL = 0.9
# Below this many distinct words a set comparison cannot tell "dog bites man" from "man bites dog",
# so short texts are copies only when equal.
MIN_FUZZY_WORDS = 8

# Every word counts, stopwords included: "is" and "is not" must not look identical.
_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.casefold()))


@dataclass(frozen=True)
class _Entry:
    group: int  # index of the (merged) sub-question
    order: int  # position in the input, the tie-break that keeps output deterministic
    passage: Passage


@dataclass
class _Copies:
    canonical: Passage
    text: str
    words: frozenset[str]


def _near_identical(a: _Copies, text: str, words: frozenset[str]) -> bool:
    if a.text == text:
        return True
    small, large = sorted((len(a.words), len(words)))
    # Jaccard is at most small / large, so sizes further apart than this cannot reach the threshold.
    if small < MIN_FUZZY_WORDS or small < NEAR_IDENTICAL * large:
        return False
    return len(a.words & words) / len(a.words | words) >= NEAR_IDENTICAL


def _clusters(entries: Iterable[_Entry]) -> dict[int, _Copies]:
    """Map each entry (by order) to its group of copies; best-scored entries become canonical."""
    clusters: list[_Copies] = []
    by_key: dict[tuple[str, str], _Copies] = {}
    assigned: dict[int, _Copies] = {}
    for e in sorted(entries, key=lambda e: (-e.passage.score, e.order)):
        p = e.passage
        key = (p.source_id, p.location)
        found = by_key.get(key)
        if found is None:
            text = normalise(p.text).casefold()
            words = _words(text)
            found = next((c for c in clusters if _near_identical(c, text, words)), None)
            if found is None:
                found = _Copies(canonical=p, text=text, words=words)
                clusters.append(found)
            by_key[key] = found
        assigned[e.order] = found
    return assigned


def collect(inp: CollectInput) -> CollectOutput:
    """Merge findings: one copy of each passage per sub-question, best first, sub-questions in order.

    Findings for the same sub-question (compared case- and space-insensitively) are merged into the
    first. `passages + duplicates_dropped` always equals the number of passages given.
    """
    headings: dict[str, int] = {}
    questions: list[str] = []
    entries: list[_Entry] = []
    for finding in inp.findings:
        group = headings.setdefault(normalise(finding.sub_question).casefold(), len(questions))
        if group == len(questions):
            questions.append(finding.sub_question)
        for p in finding.passages:
            entries.append(_Entry(group=group, order=len(entries), passage=p))

    copies = _clusters(entries)
    kept: list[list[Passage]] = [[] for _ in questions]
    seen: list[set[int]] = [set() for _ in questions]
    for e in sorted(entries, key=lambda e: (e.group, -e.passage.score, e.order)):
        cluster = copies[e.order]
        if id(cluster) in seen[e.group]:
            continue
        seen[e.group].add(id(cluster))
        # The score is this sub-question's retrieval score; the text and identity are the canonical copy's.
        kept[e.group].append(cluster.canonical.model_copy(update={"score": e.passage.score}))

    findings = [SearchOutput(sub_question=q, passages=p) for q, p in zip(questions, kept, strict=True)]
    total = sum(len(p) for p in kept)
    return CollectOutput(findings=findings, passages=total, duplicates_dropped=len(entries) - total)
