"""The answer-relevance check of a written draft: claims backed by their sources that answer
neither their section's sub-question nor the question are dropped, and counted.

The extractive writer checks its picks as it selects (`synthesis`); this judges a draft someone
else wrote (a model), with key terms weighted over the sentences of the passages it cites. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.work import Claim, Draft
from services.analyst.domain.answering import answers, asks_of, heading_terms
from services.analyst.domain.text import Idf, normalise, split_sentences, tokenize
from services.analyst.domain.verify import prune


def _key(question: str) -> str:
    return normalise(question).casefold()


def drop_off_question(draft: Draft, sub_questions: Sequence[str]) -> tuple[Draft, int]:
    """The draft without claims that answer neither their sub-question (the section's heading, when
    it is one) nor the question, renumbered; and how many were dropped."""
    headings = {ref.number: heading_terms(ref.title, ref.location) for ref in draft.sources}
    sentences = [tokenize(s) for ref in draft.sources for s in split_sentences(ref.passage)]
    idf = Idf.fit([*sentences, *set(headings.values())])
    main = asks_of(draft.question, idf, draft.question)
    asked = {_key(q): asks_of(q, idf, draft.question) for q in sub_questions}
    dropped = 0

    def keep(heading: str | None, claim: Claim) -> Claim | None:
        nonlocal dropped
        asks = [*(asked.get(_key(heading), []) if heading else []), *main]
        cited = frozenset().union(*(headings.get(n, frozenset()) for n in claim.citations))
        if answers(asks, tokenize(claim.text), cited):
            return claim
        dropped += 1
        return None

    return prune(draft, keep), dropped
