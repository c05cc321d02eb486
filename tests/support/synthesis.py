"""Questions and passages from the Python documentation for the analyst's offline brain, and
its synthesis over them."""

from __future__ import annotations

from contracts.work import Draft, Passage, SearchOutput, SynthesiseInput
from services.analyst.domain.synthesis import synthesise
from tests.support.passages import chunks

WITH_Q = "How does the with statement work in Python and what are context managers?"
BOUNDS = {1: (2, 3), 2: (3, 4), 3: (4, 6)}
QUESTIONS = [
    WITH_Q,
    "What is JSON?",
    "Compare PostgreSQL and MySQL",
    "Rust vs Go vs Zig for systems programming",
    "What are lists, tuples and dictionaries in Python?",
    "Why is the sky blue?",
    "How to deploy Django on Kubernetes?",
    "What are the pros and cons of remote work?",
    "What is JSON? How is it parsed?",
    "transformers attention",
    "",
]


def stdlib(module: str, location: str, text: str, score: float) -> Passage:
    """A passage of a standard-library module's docs, as the retriever returns it."""
    return Passage(
        source_id=f"pydoc:module:{module}", title=f"Python stdlib: {module}", location=location, text=text, score=score
    )


def doc_passage(name: str, doc: str) -> Passage:
    return Passage(source_id=f"doc:{name}", title=name, location="docstring", text=doc)


# Prose about JSON and doctest code, nothing about the with statement; written out here rather
# than read from `json.__doc__`, whose wording is the standard library's to change.
JSON_DOC = """JSON (JavaScript Object Notation) <https://json.org> is a subset of
JavaScript syntax (ECMA-262 3rd edition) used as a lightweight data
interchange format.

Encoding basic Python object hierarchies::

    >>> import json
    >>> json.dumps(['foo', {'bar': ('baz', None, 1.0, 2)}])
    '["foo", {"bar": ["baz", null, 1.0, 2]}]'
    >>> print(json.dumps({"c": 0, "b": 0, "a": 0}, sort_keys=True))
    {"a": 0, "b": 0, "c": 0}

Decoding JSON::

    >>> obj = ['foo', {'bar': ['baz', None, 1.0, 2]}]
    >>> json.loads('["foo", {"bar":["baz", null, 1.0, 2]}]') == obj
    True
"""
ORDERED_DICT_DOC = "Dictionary that remembers insertion order"


WITH_PASSAGES = chunks("with") + chunks("context-managers")
OTHER_PASSAGES = [
    *chunks("for"),
    *chunks("import")[:3],
    doc_passage("json", JSON_DOC),
    doc_passage("OrderedDict", ORDERED_DICT_DOC),
]
ALL_PASSAGES = WITH_PASSAGES + OTHER_PASSAGES


def synth(
    question: str,
    findings: dict[str, list[Passage]],
    *,
    max_sources: int = 8,
    claims_per_section: int = 3,
) -> Draft:
    inp = SynthesiseInput(
        question=question,
        sub_questions=list(findings),
        findings=[SearchOutput(sub_question=q, passages=p) for q, p in findings.items()],
        max_sources=max_sources,
    )
    return synthesise(inp, claims_per_section=claims_per_section).draft


def all_claims(draft: Draft) -> list[str]:
    return [c.text for c in draft.summary] + [c.text for s in draft.sections for c in s.claims]
