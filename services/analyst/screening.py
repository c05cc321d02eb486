"""Screening sources before synthesis: sentences that address the model are cut, never used."""

from __future__ import annotations

from collections import Counter

from contracts.work import SearchOutput
from quarry_runtime.guardrails import strip_injections


def screen_findings(findings: list[SearchOutput]) -> tuple[list[SearchOutput], Counter[str]]:
    """The findings with injected instructions removed from every passage (a passage left with
    nothing is dropped), and how many of each kind were found."""
    counts: Counter[str] = Counter()
    screened: list[SearchOutput] = []
    for finding in findings:
        passages = []
        for passage in finding.passages:
            text, found = strip_injections(passage.text)
            counts.update(f.kind for f in found)
            if text.strip():
                passages.append(passage if not found else passage.model_copy(update={"text": text}))
        screened.append(finding.model_copy(update={"passages": passages}))
    return screened, counts
