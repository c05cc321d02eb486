"""Screening sources before a model or the extractor reads them: sentences that address the model
are cut, never used."""

from __future__ import annotations

from collections import Counter

from contracts.guardrail import GuardrailTrippedPayload
from contracts.work import Passage, SearchOutput
from quarry_security.guardrails import strip_injections


def screen_passages(passages: list[Passage]) -> tuple[list[Passage], Counter[str]]:
    """The passages with injected instructions removed (a passage left with nothing is dropped),
    and how many of each kind were found."""
    counts: Counter[str] = Counter()
    screened: list[Passage] = []
    for passage in passages:
        text, found = strip_injections(passage.text)
        counts.update(f.kind for f in found)
        if text.strip():
            screened.append(passage if not found else passage.model_copy(update={"text": text}))
    return screened, counts


def screen_findings(findings: list[SearchOutput]) -> tuple[list[SearchOutput], Counter[str]]:
    """`screen_passages` over every finding's passages."""
    counts: Counter[str] = Counter()
    screened: list[SearchOutput] = []
    for finding in findings:
        passages, found = screen_passages(finding.passages)
        counts.update(found)
        screened.append(finding.model_copy(update={"passages": passages}))
    return screened, counts


def stripped_trips(counts: Counter[str], question_id: str | None = None) -> list[GuardrailTrippedPayload]:
    """The trip to report for what screening cut from sources (none when nothing was cut)."""
    if not counts:
        return []
    return [
        GuardrailTrippedPayload(
            guardrail="prompt_injection",
            where="source",
            action="stripped",
            counts=dict(counts),
            question_id=question_id,
        )
    ]
