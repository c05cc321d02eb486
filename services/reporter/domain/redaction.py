"""PII in a report: found in every text the report shows, redacted with a label. Pure."""

from __future__ import annotations

from collections import Counter

from contracts.work import Claim, Draft
from quarry_security.guardrails import redact_pii


def redact_draft(draft: Draft) -> tuple[Draft, Counter[str]]:
    """The draft with e-mail addresses, phone numbers, card numbers and national ids redacted in
    its title, question, claims, headings, source titles and passages; and what was found."""
    counts: Counter[str] = Counter()

    def clean(text: str) -> str:
        redacted, found = redact_pii(text)
        counts.update(f.kind for f in found)
        return redacted

    def claims(items: list[Claim]) -> list[Claim]:
        return [c.model_copy(update={"text": clean(c.text)}) for c in items]

    redacted = draft.model_copy(
        update={
            "title": clean(draft.title),
            "question": clean(draft.question),
            "summary": claims(draft.summary),
            "sections": [
                s.model_copy(update={"heading": clean(s.heading), "claims": claims(s.claims)}) for s in draft.sections
            ],
            "sources": [
                s.model_copy(update={"title": clean(s.title), "passage": clean(s.passage)}) for s in draft.sources
            ],
        }
    )
    return redacted, counts
