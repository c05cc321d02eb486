"""Pure scoring of one evaluated question: retrieval recall, key terms, relevance, coverage, citation faults.

The grading reads only the question set (documents, facts, key terms) and the draft; it shares no
code with the analyst it grades, so a change to the analyst's text analysis cannot move the ruler.

Answer relevance: a claim of the report (summary or section) addresses the question when it cites
one of the question's documents, states one of its key terms, or covers one of its facts. The
share of such claims among all the report's claims is the relevance; a report padded with
supported but off-topic sentences scores low however well they are cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from contracts.work import Claim, Draft, Passage

RRF_K = 60


def fused_ranking(result_lists: Sequence[Sequence[Passage]], k: int = RRF_K) -> list[Passage]:
    """The run's searches as one ranking: reciprocal rank fusion over the per-sub-question lists.

    A passage found by several sub-questions rises; ties keep first-seen order.
    """
    scores: dict[tuple[str, str], float] = {}
    first: dict[tuple[str, str], Passage] = {}
    for passages in result_lists:
        for rank, p in enumerate(passages, 1):
            key = (p.source_id, p.location)
            first.setdefault(key, p)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = sorted(first, key=lambda key: -scores[key])
    return [first[key] for key in order]


def recall_at(ranking: Sequence[Passage], expected: Iterable[str], k: int) -> float:
    """Share of the expected documents that at least one of the top `k` passages comes from."""
    wanted = set(expected)
    if not wanted:
        raise ValueError("a question must name at least one document")
    found = {p.source_id for p in ranking[:k]}
    return len(wanted & found) / len(wanted)


def report_claims(draft: Draft) -> list[Claim]:
    """The summary's claims, then every section's."""
    return [*draft.summary, *(c for s in draft.sections for c in s.claims)]


def claims_text(claims: Iterable[Claim]) -> str:
    return " ".join(c.text for c in claims)


# --- fact coverage ----------------------------------------------------------------------------

_STOPWORD_TEXT = """
    a an and are as at be by can do does for from has have how i if in into is it its may of on or so
    than that the their them then there these this those to was were what when which while who will
    with would you your
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_GRADED_TOKEN = re.compile(r"[a-z0-9_]+")


def _stem(word: str) -> str:
    """Plural and -ing/-ed endings off, so "keeps it sorted" meets "keep the list sort"."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("eed"):
            return word[: -len(suffix)]
    return word


def content_terms(text: str) -> set[str]:
    """Lower-case, stemmed words of `text` without the commonest function words."""
    return {_stem(t) for t in _GRADED_TOKEN.findall(text.lower()) if len(t) > 1 and t not in _STOPWORDS}


def fact_covered(fact: str, answer: str) -> bool:
    """A fact is covered when the answer holds every content term of it (stemmed), or quotes it."""
    terms = content_terms(fact)
    if not terms:
        return " ".join(fact.casefold().split()) in " ".join(answer.casefold().split())
    return terms <= content_terms(answer)


def fabricated_citations(draft: Draft, retrieved: Iterable[Passage]) -> list[str]:
    """Cited sources that no search of the run returned (by source and location)."""
    seen = {(p.source_id, p.location) for p in retrieved}
    return [f"{s.source_id} {s.location}" for s in draft.sources if (s.source_id, s.location) not in seen]


def relevant_claims(
    draft: Draft, documents: Iterable[str], key_terms: Sequence[str], facts: Sequence[str]
) -> list[Claim]:
    """The report's claims that address the question (see the module's docstring)."""
    wanted = set(documents)
    cited_docs = {s.number: s.source_id for s in draft.sources}
    return [
        c
        for c in report_claims(draft)
        if any(cited_docs.get(n) in wanted for n in c.citations)
        or states_key_term(key_terms, c.text)
        or any(fact_covered(f, c.text) for f in facts)
    ]


# --- key terms -------------------------------------------------------------------------------

# Characters that make up operators; an operator token ends where a run of them ends, so `:=`
# is not found inside the grammar's `::=` nor `*` inside `**`.
_OPERATOR_CHARS = frozenset("!%&*+-/:<=>@^|~.")
_WORD_TERM = re.compile(r"^[a-z]+(?:[ -][a-z]+)*$")
# Code quoted in prose: the corpus puts "is" in double quotes (inside curly single ones),
# Markdown in backticks.
_CODE_SPAN = re.compile(
    r"`([^`\n]{1,80})`|\"([^\"\n]{1,80})\"|\u201c([^\u201d\n]{1,80})\u201d|\u2018([^\u2019\n]{1,80})\u2019"
)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _edge_class(ch: str) -> str:
    if _is_word_char(ch):
        return "word"
    if ch in _OPERATOR_CHARS:
        return "operator"
    return "other"


def _token_pattern(term: str) -> re.Pattern[str]:
    """A whole-token, exact pattern for a code term: its edges may not continue into a like token."""
    body = r"\s+".join(re.escape(part) for part in term.split())
    guards = {"word": r"[\w]", "operator": "[" + re.escape("".join(sorted(_OPERATOR_CHARS))) + "]"}
    left = guards.get(_edge_class(term[0]))
    right = guards.get(_edge_class(term[-1]))
    return re.compile((f"(?<!{left})" if left else "") + body + (f"(?!{right})" if right else ""))


def _word_pattern(term: str) -> re.Pattern[str]:
    body = r"[\s-]+".join(re.escape(part) for part in re.split(r"[ -]", term))
    return re.compile(rf"(?<![\w]){body}(?![\w])", re.IGNORECASE)


def term_stated(term: str, text: str) -> bool:
    """Whether `text` states the key term `term`.

    - A term in backticks (`` `is` ``) is a keyword that must appear as code: inside a quoted span
      (backticks, straight or curly double quotes, curly single quotes), as a whole token, so the
      English "is" in a sentence does not state the operator.
    - A lower-case word or phrase (`nonlocal`, `name mangling`, `yield from`) matches
      case-insensitively on word boundaries, any whitespace or hyphen between its words: `is` is
      not found in `this`, `in` not in `print`.
    - Anything else is a code token (`__init__`, `:=`, `->`, `DictReader`, `csv.DictReader`) and
      matches exactly, case included, as a whole token: it may not continue into more of the same
      kind of characters on either side (letters, digits and `_` for an identifier's edge, operator
      characters for an operator's edge).
    """
    term = term.strip()
    if len(term) > 2 and term.startswith("`") and term.endswith("`"):
        inner = _token_pattern(term[1:-1])
        spans = ("".join(g for g in m.groups() if g) for m in _CODE_SPAN.finditer(text))
        return any(inner.search(span) for span in spans)
    pattern = _word_pattern(term) if _WORD_TERM.match(term) else _token_pattern(term)
    return pattern.search(text) is not None


def states_key_term(key_terms: Iterable[str], text: str) -> bool:
    """Whether `text` states any accepted spelling of the question's key term."""
    return any(term_stated(term, text) for term in key_terms)
