"""Rule-based question decomposition: split compound questions and add aspect sub-questions."""

from __future__ import annotations

import re
from collections.abc import Iterator

from contracts.work import PlanInput, PlanOutput
from services.analyst.domain.clauses import (
    Clause,
    Kind,
    Subject,
    parse_clause,
    sentence_case,
)
from services.analyst.domain.steps import clause_texts
from services.analyst.domain.subjects import is_nominal, resolve_references
from services.analyst.domain.text import normalise, tokenize

# Sub-questions (the original included) per depth; a compound question earns one more.
_TARGET: dict[int, int] = {1: 2, 2: 3, 3: 5}
_MOST: dict[int, int] = {1: 3, 2: 4, 3: 6}


def _q(template: str, s: Subject, proposition: str = "") -> str:
    """Render a template; the qualifier goes to the end where it reads naturally."""
    if "{p}" in template:
        if not proposition:
            return ""
        return sentence_case(template.format(p=proposition))
    be, do = ("are", "do") if s.plural else ("is", "does")
    text = template.format(s=s.core, be=be, do=do)
    text = sentence_case(f"{text} {s.qualifier}" if s.qualifier else text)
    # "How does remote work work?" reads as a typo; the angle is covered elsewhere.
    doubled = re.compile(r"\b(\w+) \1\b", re.I)
    return "" if doubled.search(text) and not doubled.search(s.phrase) else text


_Templates = tuple[str, ...]
_ASPECTS: dict[Kind, _Templates] = {
    "what": (
        "What {be} {s}",
        "How {do} {s} work",
        "What are examples of {s} being used",
        "What are common pitfalls or limitations of {s}",
        "What are the alternatives to {s}",
        "What are best practices for {s}",
    ),
    "how": (
        "How {do} {s} work",
        "What {be} {s}",
        "What are examples of {s} being used",
        "What are common pitfalls or limitations of {s}",
        "What are best practices for using {s}",
        "What are the alternatives to {s}",
    ),
    "howto": (
        "What are the steps to {s}",
        "What is needed before trying to {s}",
        "What are common pitfalls when trying to {s}",
        "What tools or libraries help to {s}",
        "What are worked examples showing how to {s}",
    ),
    "why": (
        "What {be} {s}",
        "What are the main reasons why {p}",
        "What evidence supports the explanations of why {p}",
        "What are the competing explanations or counterarguments about why {p}",
        "What are the arguments for and against {s}",
    ),
}
_FALLBACK: _Templates = (
    "What are the key facts about {s}",
    "What do sources disagree on about {s}",
    "What are recent developments concerning {s}",
    "What are the open questions about {s}",
)


_COMPARE_FRAMES = "key differences between strengths and weaknesses of when should be chosen over is each the best choice similarities"


def _frame_terms() -> frozenset[str]:
    """The words templates add around a subject: a sub-question holding only these beyond what is
    already asked adds no information to search for."""
    texts = [*(t for ts in _ASPECTS.values() for t in ts), *_FALLBACK, _COMPARE_FRAMES]
    return frozenset(term for t in texts for term in tokenize(re.sub(r"\{\w\}", " ", t)))


_FRAME_TERMS = _frame_terms()


def _compare_questions(clause: Clause) -> Iterator[str]:
    names = [s.phrase for s in clause.subjects]
    joined = ", ".join(names[:-1]) + " and " + names[-1]
    scope = f" {clause.qualifier}" if clause.qualifier else ""
    yield sentence_case(f"What are the key differences between {joined}{scope}")
    for s in clause.subjects:
        yield _q("What {be} {s}", s)
    yield sentence_case(f"What are the strengths and weaknesses of {joined}{scope}")
    if len(names) == 2:
        yield sentence_case(f"When should {names[0]} be chosen over {names[1]}{scope}")
    else:
        yield sentence_case(f"When is each of {joined} the best choice{scope}")
    yield sentence_case(f"What are the similarities between {joined}{scope}")


def _clause_questions(clause: Clause) -> Iterator[str]:
    if clause.kind == "compare":
        yield from _compare_questions(clause)
        return
    # Templates read well only around a noun phrase; around a statement they make nonsense.
    # A list split out of a statement ("functions compute the mean, median and ...") names nothing.
    if not all(is_nominal(s) for s in clause.subjects):
        return
    for template in _ASPECTS[clause.kind]:
        for s in clause.subjects:
            yield _q(template, s, clause.proposition)


def _fallback_questions(subject: Subject) -> Iterator[str]:
    if is_nominal(subject):
        for template in _FALLBACK:
            yield _q(template, subject)


def information(question: str) -> frozenset[str]:
    """What a sub-question searches for beyond template wording: its content terms."""
    return frozenset(tokenize(question)) - _FRAME_TERMS


def _round_robin(streams: list[Iterator[str]]) -> Iterator[str]:
    while streams:
        for stream in list(streams):
            item = next(stream, None)
            if item is None:
                streams.remove(stream)
            else:
                yield item


def plan(inp: PlanInput, most: int | None = None) -> PlanOutput:
    """Decompose a research question into sub-questions; the original first, more with depth (at
    most `most`, when given: an agent configuration's cap)."""
    question = normalise(inp.question) or "this topic"
    clauses = resolve_references([parse_clause(c) for c in clause_texts(question)])
    if not clauses:
        clauses = [Clause(question, "what", (Subject("this topic"),))]
    compound = len(clauses) > 1 or any(len(c.subjects) > 1 for c in clauses)
    target = min(_MOST[inp.depth], _TARGET[inp.depth] + int(compound), most or _MOST[inp.depth])

    # Each clause of a compound question is its own search, even when the whole question holds its
    # words; any other sub-question must search for something no earlier one does.
    chosen = [question]
    seen = {information(question)}
    parts = [sentence_case(c.text) for c in clauses] if len(clauses) > 1 else []
    for part in dict.fromkeys(p for p in parts if p and p.lower() != question.lower().rstrip("?") + "?"):
        if len(chosen) < target and (key := information(part)) and key not in seen - {information(question)}:
            seen.add(key)
            chosen.append(part)
    more = [*_round_robin([_clause_questions(c) for c in clauses])]
    more += _round_robin([_fallback_questions(c.subjects[0]) for c in clauses])
    for candidate in more:
        if len(chosen) < target and candidate and (key := information(candidate)) and key not in seen:
            seen.add(key)
            chosen.append(candidate)
    return PlanOutput(sub_questions=chosen)
