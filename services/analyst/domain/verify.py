"""Check a draft's claims against the passages of the sources they cite.

A cited sentence is supported when its passage quotes it, or lexically entails it: a window of one
to three consecutive passage sentences holds most of the sentence's content terms (stemmed,
stopwords removed), every number the sentence states, and agrees with it on negation. Windows,
rather than the whole passage, keep a long passage from "supporting" a sentence stitched together
from words scattered across it. The check reads only text, so it judges an extractive draft and a
model's paraphrase alike. A claim labelled with the API it describes ("`math.fsum()`: Return ...",
see `naming`) is supported when the source spells the label's name (in its title, heading or text)
and backs the quote after it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from contracts.work import Claim, Draft, UnsupportedClaim, VerifyInput, VerifyOutput
from services.analyst.domain.naming import label_backed, split_label
from services.analyst.domain.synthesis import check_citations, located_claims
from services.analyst.domain.text import normalise, split_sentences, tokenize

# A sentence not quoted verbatim is supported when at least this share of its content terms occur
# in one window of its cited passage: a paraphrase keeps most of its words.
ENTAILMENT_THRESHOLD = 0.8
WINDOW_SENTENCES = 3

# Stopwords to `tokenize`, yet they flip a claim's meaning: "X is not safe" shares every content term
# with "X is safe". A sentence and the window backing it must agree on whether they negate.
_NEGATION = re.compile(r"\b(?:not|no|never|nor|cannot|without|\w+n['\u2019]t)\b", re.IGNORECASE)
# "version 3.5", "1,000", "0.8": a number the claim states must be the passage's.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")


@functools.lru_cache(maxsize=4096)
def _facts(text: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """Content terms, numbers and whether the text negates."""
    numbers = frozenset(n.replace(",", "") for n in _NUMBER.findall(text))
    return frozenset(tokenize(text)), numbers, _NEGATION.search(text) is not None


# A passage is checked against every claim citing it; split and tokenise it once.
@functools.lru_cache(maxsize=256)
def _windows(passage: str) -> tuple[tuple[frozenset[str], frozenset[str], bool], ...]:
    sentences = [_facts(s) for s in split_sentences(passage)] or [_facts(passage)]
    windows = []
    for start in range(len(sentences)):
        for size in range(1, WINDOW_SENTENCES + 1):
            part = sentences[start : start + size]
            if len(part) < size:
                break
            terms = frozenset().union(*(p[0] for p in part))
            numbers = frozenset().union(*(p[1] for p in part))
            windows.append((terms, numbers, any(p[2] for p in part)))
    return tuple(windows)


def _sentence_entailment(sentence: str, passage: str) -> float:
    wanted, numbers, negates = _facts(sentence)
    if not wanted:
        return 0.0
    best = 0.0
    for terms, have_numbers, window_negates in _windows(passage):
        if negates != window_negates or not numbers <= have_numbers:
            continue
        best = max(best, len(wanted & terms) / len(wanted))
    return best


def claim_sentences(claim: str) -> list[str]:
    """The sentences a claim asserts; each must be backed on its own."""
    return split_sentences(claim) or ([normalise(claim)] if normalise(claim) else [])


def entailment(claim: str, passage: str) -> float:
    """How well the passage backs the claim: the weakest of its sentences' best window score.

    0.0 for a claim without content terms; a sentence whose numbers or negation no window shares
    scores 0.0 too.
    """
    sentences = claim_sentences(claim)
    if not sentences:
        return 0.0
    return min(_sentence_entailment(s, passage) for s in sentences)


def support_score(claim: str, passage: str, heading: str = "") -> float:
    """1.0 when the passage quotes the claim, else its entailment score; 0.0 when the claim's label
    names what neither the passage nor its `heading` (the source's title and location) spells."""
    name, quote = split_label(claim)
    if name is not None and not label_backed(name, passage, heading):
        return 0.0
    text = normalise(quote)
    if text and text in normalise(passage):
        return 1.0
    return entailment(quote, passage)


def supports(claim: str, passage: str, heading: str = "") -> bool:
    """True when the passage quotes the claim or lexically entails it (a label backed as well)."""
    return support_score(claim, passage, heading) >= ENTAILMENT_THRESHOLD


def _passages(draft: Draft) -> dict[int, list[tuple[str, str]]]:
    """Each source number's passages, each with the title and location a label may be backed by."""
    passages: dict[int, list[tuple[str, str]]] = {}
    for ref in draft.sources:
        passages.setdefault(ref.number, []).append((ref.passage, f"{ref.title}\n{ref.location}"))
    return passages


def _scores(claim: Claim, passages: dict[int, list[tuple[str, str]]]) -> dict[int, float]:
    """Each cited number's best score over its passages; out-of-range numbers score 0."""
    return {
        n: max((support_score(claim.text, p, h) for p, h in passages.get(n, [])), default=0.0) for n in claim.citations
    }


def unsupported_claims(draft: Draft) -> list[UnsupportedClaim]:
    """Every claim with a cited source that does not back it, naming those sources."""
    passages = _passages(draft)
    found = []
    for where, claim in located_claims(draft):
        scores = _scores(claim, passages)
        failing = [n for n, score in scores.items() if score < ENTAILMENT_THRESHOLD]
        if failing:
            found.append(
                UnsupportedClaim(
                    where=where, text=claim.text, citations=failing, score=round(max(scores.values(), default=0.0), 4)
                )
            )
    return found


def verify(inp: VerifyInput) -> VerifyOutput:
    """Check every claim; a claim is supported only when every source it cites backs it.

    Each citation asserts that its source says the claim, so one bad citation among good ones is
    still a fault. Problems: the draft's structural citation faults (numbering, dangling or empty),
    then one line per claim that an in-range source fails to back.
    """
    draft: Draft = inp.draft
    passages = _passages(draft)
    # Verbatim containment is judged here, with the entailment fallback, not by check_citations.
    problems = check_citations(draft, check_text=False)
    unsupported = unsupported_claims(draft)
    checked = sum(1 for _ in located_claims(draft))
    for claim in unsupported:
        # Dangling numbers were already reported by check_citations, one line each; so was an empty claim.
        unbacked = [n for n in claim.citations if n in passages]
        if unbacked and normalise(claim.text):
            cited = ", ".join(f"[{n}]" for n in unbacked)
            problems.append(f"{claim.where}: not supported by the passage of source {cited}: {claim.text[:80]!r}")
    if checked == 0:
        problems.append("the draft has no claims")
    supported = checked - len(unsupported)
    rate = supported / checked if checked else 0.0
    return VerifyOutput(
        checked=checked, supported=supported, support_rate=rate, problems=problems, unsupported=unsupported
    )


def drop_unsupported(draft: Draft) -> tuple[Draft, VerifyOutput]:
    """The draft without what its sources do not back, and the check of the draft as it came.

    A citation whose source does not back its claim is removed; a claim left citing nothing is
    dropped, a section left without claims too, and sources nobody cites any more go, the rest
    renumbered in order of first citation. The check reports the draft as written, so its support
    rate is what the writer (model or extractor) achieved, and `unsupported` lists what was cut.
    """
    check = verify(VerifyInput(draft=draft))
    if not check.unsupported:
        return draft, check
    passages = _passages(draft)

    def backed(claim: Claim) -> Claim | None:
        scores = _scores(claim, passages)
        backing = [n for n in claim.citations if scores[n] >= ENTAILMENT_THRESHOLD]
        return claim.model_copy(update={"citations": backing}) if backing and normalise(claim.text) else None

    return prune(draft, lambda _heading, claim: backed(claim)), check


def prune(draft: Draft, keep: Callable[[str | None, Claim], Claim | None]) -> Draft:
    """The draft with each claim replaced by `keep(section heading or None for the summary, claim)`
    (None drops it); a section left without claims goes, and so do sources nobody cites any more,
    the rest renumbered in order of first citation."""
    summary = [c for claim in draft.summary if (c := keep(None, claim)) is not None]
    sections = [
        s.model_copy(update={"claims": kept})
        for s in draft.sections
        if (kept := [c for claim in s.claims if (c := keep(s.heading, claim)) is not None])
    ]
    order: dict[int, int] = {}
    for claim in [*summary, *(c for s in sections for c in s.claims)]:
        for n in claim.citations:
            order.setdefault(n, len(order) + 1)

    def renumbered(claims: list[Claim]) -> list[Claim]:
        return [c.model_copy(update={"citations": list(dict.fromkeys(order[n] for n in c.citations))}) for c in claims]

    sources = sorted(
        (ref.model_copy(update={"number": order[ref.number]}) for ref in draft.sources if ref.number in order),
        key=lambda ref: ref.number,
    )
    return draft.model_copy(
        update={
            "summary": renumbered(summary),
            "sections": [s.model_copy(update={"claims": renumbered(s.claims)}) for s in sections],
            "sources": sources,
        }
    )
