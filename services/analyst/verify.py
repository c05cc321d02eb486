"""Check a draft's claims against the passages of the sources they cite."""

from __future__ import annotations

import functools
import re

from contracts.work import Claim, Draft, VerifyInput, VerifyOutput
from services.analyst.synthesis import check_citations, located_claims
from services.analyst.text import normalise, tokenize

# A claim not quoted verbatim is supported when at least this share of its content terms
# (stemmed, stopwords removed) occur in the cited passage: a paraphrase keeps most of its words.
ENTAILMENT_THRESHOLD = 0.8

# Stopwords to `tokenize`, yet they flip a claim's meaning: "X is not safe" shares every content term
# with "X is safe". A claim that negates needs a negation in its passage (anywhere: a coarse guard).
_NEGATION = re.compile(r"\b(?:not|no|never|nor|cannot|without|\w+n['\u2019]t)\b", re.IGNORECASE)


# A passage is checked against every claim citing it; tokenise it once.
@functools.lru_cache(maxsize=256)
def _terms(text: str) -> tuple[frozenset[str], bool]:
    return frozenset(tokenize(text)), _NEGATION.search(text) is not None


def entailment(claim: str, passage: str) -> float:
    """Share of the claim's content terms found in the passage.

    0.0 for a claim without content terms, and for a negating claim against a passage that never negates.
    """
    wanted, negates = _terms(claim)
    have, passage_negates = _terms(passage)
    if not wanted or (negates and not passage_negates):
        return 0.0
    return len(wanted & have) / len(wanted)


def supports(claim: str, passage: str) -> bool:
    """True when the passage quotes the claim or lexically entails it."""
    text = normalise(claim)
    if text and text in normalise(passage):
        return True
    return entailment(claim, passage) >= ENTAILMENT_THRESHOLD


def _unsupported_by(claim: Claim, passages: dict[int, list[str]]) -> list[int]:
    """Cited sources whose passage does not back the claim; out-of-range numbers count as not backing."""
    return [n for n in claim.citations if not any(supports(claim.text, p) for p in passages.get(n, []))]


def verify(inp: VerifyInput) -> VerifyOutput:
    """Check every claim; a claim is supported only when every source it cites backs it.

    Each citation asserts that its source says the claim, so one bad citation among good ones is
    still a fault. Problems: the draft's structural citation faults (numbering, dangling or empty),
    then one line per claim that an in-range source fails to back.
    """
    draft: Draft = inp.draft
    passages: dict[int, list[str]] = {}
    for ref in draft.sources:
        passages.setdefault(ref.number, []).append(ref.passage)
    # Verbatim containment is judged here, with the entailment fallback, not by check_citations.
    problems = check_citations(draft, check_text=False)
    checked = supported = 0
    for where, claim in located_claims(draft):
        checked += 1
        failing = _unsupported_by(claim, passages)
        if not failing:
            supported += 1
            continue
        # Dangling numbers were already reported by check_citations, one line each.
        unbacked = [n for n in failing if n in passages]
        # An empty claim was reported by check_citations too.
        if unbacked and normalise(claim.text):
            cited = ", ".join(f"[{n}]" for n in unbacked)
            problems.append(f"{where}: not supported by the passage of source {cited}: {claim.text[:80]!r}")
    if checked == 0:
        problems.append("the draft has no claims")
    rate = supported / checked if checked else 0.0
    return VerifyOutput(checked=checked, supported=supported, support_rate=rate, problems=problems)
