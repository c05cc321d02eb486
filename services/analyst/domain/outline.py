"""A report outline and tone applied to a draft: findings placed under the outline's headings by
lexical similarity, and the framing a tone asks for. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from contracts.report import OutlineSection, Tone
from contracts.work import Draft, Section
from services.analyst.domain.text import Idf, cosine, features, tokenize, vector

OTHER_FINDINGS = "Other findings"
# The sub-question a finding answers says something about where it belongs, but less than its own words.
_SUB_QUESTION_WEIGHT = 0.5
# Executive: the summary leads, the body stays short.
EXECUTIVE_SECTIONS = 3
EXECUTIVE_CLAIMS_PER_SECTION = 2
EXECUTIVE_SUMMARY = 3
# Technical: a sentence naming code (calls, dotted or snake_case names, `quoted` identifiers) counts this much more.
TECHNICAL_BOOST = 1.25
_CODE_NAME = re.compile(
    r"`[^`\s][^`]*`|\b[A-Za-z_][\w.]*\(\)|\b[a-z]+_[a-z0-9_]+\b|\b[a-z_]\w*\.[a-z_]\w*\b|\b[a-z]+[A-Z]\w*\b"
)


def names_code(sentence: str) -> bool:
    """True when the sentence names a function, module, attribute or other identifier."""
    return _CODE_NAME.search(sentence) is not None


def assign(findings: Sequence[tuple[str, str]], outline: Sequence[OutlineSection]) -> list[int | None]:
    """For each finding (its text, the sub-question it answers), the index of the outline section it
    fits best by lexical similarity with the section's heading and hint; None when it shares no term
    with any. Ties go to the earlier section, as a reader meets it first."""
    if not outline:
        return [None] * len(findings)
    # The heading names the section; its hint only helps, so the heading's terms count twice.
    targets = [features([*tokenize(s.heading), *tokenize(s.heading), *tokenize(s.hint)]) for s in outline]
    texts = [features(tokenize(text)) for text, _ in findings]
    subs = [features(tokenize(sub)) for _, sub in findings]
    idf = Idf.fit([*targets, *texts])
    target_vecs = [vector(t, idf) for t in targets]
    placed: list[int | None] = []
    for text, sub in zip(texts, subs, strict=True):
        own, asked = vector(text, idf), vector(sub, idf)
        scores = [cosine(own, t) + _SUB_QUESTION_WEIGHT * cosine(asked, t) for t in target_vecs]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        placed.append(best if scores[best] > 0 else None)
    return placed


def with_outline(draft: Draft, outline: Sequence[OutlineSection]) -> Draft:
    """The draft with every outline heading present, in outline order (an empty one where no finding
    fits: the report says so rather than inventing text), other sections after. A draft without
    findings stays without sections, so it still reads as the answerless draft it is."""
    if not outline or not (draft.summary or any(s.claims for s in draft.sections)):
        return draft
    by_heading = {_key(s.heading): s for s in draft.sections}
    wanted = [by_heading.get(_key(o.heading)) or Section(heading=o.heading, claims=[]) for o in outline]
    headings = {_key(o.heading) for o in outline}
    rest = [s for s in draft.sections if _key(s.heading) not in headings]
    return draft.model_copy(update={"sections": [*wanted, *rest]})


_TONE_GUIDANCE: dict[str, str] = {
    "neutral": "",
    "executive": "The readers are decision makers: lead with the key finding, favour impact, cost and risk, keep it short.",
    "technical": "The readers are engineers: keep code, API, module and function names exact; favour mechanisms and details.",
}


def prompt_guidance(outline: Sequence[OutlineSection], tone: Tone) -> str:
    """What a model prompt says of the report's outline and tone ("" for neither)."""
    lines = []
    if outline:
        lines.append("The report is organised under these sections, in this order:")
        lines += [f"- {o.heading}" + (f": {o.hint}" if o.hint else "") for o in outline]
    if _TONE_GUIDANCE.get(tone):
        lines.append(_TONE_GUIDANCE[tone])
    return "\n".join(lines)


def sections_for(tone: Tone, has_outline: bool) -> int | None:
    """How many sections a draft of this tone keeps (None: all); an outline is the reader's own, kept whole."""
    return EXECUTIVE_SECTIONS if tone == "executive" and not has_outline else None


def _key(heading: str) -> str:
    return " ".join(heading.split()).casefold()
