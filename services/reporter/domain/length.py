"""Hold a draft to the length the run asked for. Pure.

The analyst already writes to the requested length; the reporter holds whatever draft it gets
(a model's included) to it as well: a brief report keeps the summary's first two findings and one
per section, a word target drops the findings that matter least until the findings fit.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts.report import ReportLength
from contracts.work import Claim, Draft, Section
from quarry_runtime.words import count_words

# (summary findings, findings per section) a brief report keeps.
BRIEF_LIMITS = (2, 1)
# Characters quoted from each source in the source list.
EXCERPT_BY_LENGTH: dict[ReportLength, int] = {"brief": 160, "standard": 300, "detailed": 600}


def findings_words(draft: Draft) -> int:
    """Words in the report's findings: the summary's and the sections' claims."""
    return sum(count_words(c.text) for c in _claims(draft.summary, draft.sections))


def fit_draft(draft: Draft, length: ReportLength, target_words: int | None) -> Draft:
    """The draft cut to `target_words` words of findings when given, else to the `length` preset.

    Cuts take a section's last finding (the least relevant one the writer kept) from the section
    with the most, never a section's first; then the summary's tail. Sources no finding cites any
    more are dropped and the rest renumbered in order of first citation.
    """
    summary, sections = list(draft.summary), [s.model_copy() for s in draft.sections]
    if target_words is not None:
        summary, sections = _to_words(summary, sections, target_words)
    elif length == "brief":
        summary = summary[: BRIEF_LIMITS[0]]
        sections = [s.model_copy(update={"claims": s.claims[: BRIEF_LIMITS[1]]}) for s in sections]
    if summary == draft.summary and sections == draft.sections:
        return draft
    return _renumbered(draft, summary, sections)


def _claims(summary: list[Claim], sections: Iterable[Section]) -> list[Claim]:
    return [*summary, *(c for s in sections for c in s.claims)]


def _to_words(summary: list[Claim], sections: list[Section], target: int) -> tuple[list[Claim], list[Section]]:
    words = sum(count_words(c.text) for c in _claims(summary, sections))
    claims = [list(s.claims) for s in sections]
    while words > target:
        longest = max(range(len(claims)), key=lambda i: (len(claims[i]), i), default=None)
        if longest is not None and len(claims[longest]) > 1:
            words -= count_words(claims[longest].pop().text)
        elif len(summary) > 1:
            words -= count_words(summary.pop().text)
        else:
            break  # one finding per section and one in the summary: the least a report says
    return summary, [s.model_copy(update={"claims": c}) for s, c in zip(sections, claims, strict=True)]


def _renumbered(draft: Draft, summary: list[Claim], sections: list[Section]) -> Draft:
    order: dict[int, int] = {}
    for claim in _claims(summary, sections):
        for n in claim.citations:
            order.setdefault(n, len(order) + 1)
    for section in sections:
        for citations in [*(t.citations for t in section.tables), *(b.citations for b in section.code)]:
            for n in citations:
                order.setdefault(n, len(order) + 1)

    def numbers(citations: list[int]) -> list[int]:
        return list(dict.fromkeys(order[n] for n in citations if n in order))

    def claims(items: list[Claim]) -> list[Claim]:
        return [c.model_copy(update={"citations": numbers(c.citations)}) for c in items]

    return draft.model_copy(
        update={
            "summary": claims(summary),
            "sections": [
                s.model_copy(
                    update={
                        "claims": claims(s.claims),
                        "tables": [t.model_copy(update={"citations": numbers(t.citations)}) for t in s.tables],
                        "code": [b.model_copy(update={"citations": numbers(b.citations)}) for b in s.code],
                    }
                )
                for s in sections
            ],
            "sources": sorted(
                (r.model_copy(update={"number": order[r.number]}) for r in draft.sources if r.number in order),
                key=lambda r: r.number,
            ),
        }
    )
