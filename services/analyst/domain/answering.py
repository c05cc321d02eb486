"""How well a sentence answers a question, rather than merely sharing a word with it.

A question's key terms are its content terms less the wording templates wrap around a subject
("steps", "examples", "work"), each weighted by how rare it is among the sentences at hand; the
entity is what the question is about (its subject when that is a noun phrase, else every key
term). A sentence answers when it holds much of that weight, close together, in a passage whose
heading names the entity. Terms are whatever `tokenize` yields, so `__init__` or `==` count as
soon as it keeps them. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from quarry_text import frames
from quarry_text.thesaurus import relatives_of
from services.analyst.domain.clauses import parse_clause
from services.analyst.domain.planning import information
from services.analyst.domain.steps import clause_texts
from services.analyst.domain.subjects import is_nominal
from services.analyst.domain.text import Idf, stem, tokenize

# Coverage carries the score; tight wording and a heading naming the entity refine it.
_PROXIMITY_SHARE = 0.25
HEADING_WEIGHT = 0.3
# A sentence that says "directory" where the question says "folder" holds this share of the term.
RELATIVE_SHARE = 0.6
# Below this fit a sentence does not address the question it was picked for, whatever it shares.
ANSWER_FLOOR = 0.25
_WORD = re.compile(r"\w+")
# Rarity among a few dozen retrieved sentences is a noisy signal: damped, one rare word shared
# with the question cannot pass for an answer.
IDF_POWER = 0.5
# Words that frame what is asked rather than name it: "the differences between", "examples of".
_FRAME_TEXT = """
work works example examples use used pitfalls limitations practices best common key main differences
similarities strengths weaknesses reasons evidence explanations alternatives steps tools facts sources
counterarguments arguments needed tell
everything anything something everyone anyone someone together
"""
FRAME_TERMS = frozenset(stem(w) for w in _FRAME_TEXT.split())
# Nouns that say what kind of thing an entity is; every module, statement or class shares them.
_KIND_TEXT = """
module modules function functions method methods class classes statement statements keyword keywords
operator operators object objects type types attribute attributes clause clauses expression expressions
library libraries package packages
"""
KIND_TERMS = frozenset(stem(w) for w in _KIND_TEXT.split())
# A sentence names the entity when it, or its heading, holds at least this share of the entity's weight.
_ENTITY_SHARE = 1 / 3


# Words written as names: acronyms (JSON, SQL), CamelCase, snake_case, dotted or dunder names, code.
_NAME = re.compile(r"`[^`]+`|\b[A-Z][A-Z0-9]+\b|\b[A-Za-z]+[A-Z]\w*|\b\w*_\w+|\b\w+\.\w[\w.]*")


@dataclass(frozen=True)
class Ask:
    """A question's key terms, weighted; the share of them that names its entity; and the terms a
    heading is matched on (the entity, or failing a noun-phrase subject the names the question uses)."""

    weights: Mapping[str, float]
    entity: frozenset[str]
    named: frozenset[str] = frozenset()
    # Words documentation uses for a key term's idea (`quarry_text.thesaurus`), per key term.
    relatives: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.weights.values())


def _entity(question: str, key: Collection[str]) -> frozenset[str]:
    clauses = clause_texts(question)
    if not clauses:
        return frozenset(key)
    subjects = parse_clause(clauses[0]).subjects
    if not all(is_nominal(s) for s in subjects):
        return frozenset(key)
    named = frozenset(t for s in subjects for t in tokenize(s.core)) & frozenset(key)
    # "the shelve module" is told apart from other modules by "shelve", not by "module".
    return named - KIND_TERMS or named or frozenset(key)


def ask_of(question: str, idf: Idf, asked: str = "") -> Ask:
    """The question's key terms, weighted by idf: its words less framing ("differences", "steps")
    and less template wording the user's own question (`asked`) does not say too ("try" frames a
    template, yet names a statement).
    Terms no sentence holds (idf never fitted on them) are left out: nothing could cover them."""
    own = set(tokenize(asked)) | information(question)
    framing = framing_terms(question)
    key = [t for t in dict.fromkeys(tokenize(question)) if t in own and t not in framing]
    weights = {t: idf(t) ** IDF_POWER for t in key if t in idf.weights}
    entity = _entity(question, weights)
    names = frozenset(t for m in _NAME.findall(question) for t in tokenize(m)) & frozenset(weights)
    # "encode Python objects as JSON" has no noun-phrase subject, but the passage headed "json" is the one.
    heading = names if entity == frozenset(weights) and names else entity
    relatives = {t: related for t in weights if (related := relatives_of(t))}
    return Ask(weights=weights, entity=entity, named=heading, relatives=relatives)


def framing_terms(question: str) -> frozenset[str]:
    """The question's terms that frame what it asks rather than name it: template words
    ("examples", "work") and words in a framing construction ("difference between", `quarry_text.frames`)."""
    return FRAME_TERMS | frames.framing(question)


def asks_of(question: str, idf: Idf, asked: str = "") -> list[Ask]:
    """The whole question's ask, then each of its clauses': a sentence answering one clause of a
    compound question answers the question, though it holds only that clause's terms."""
    clauses = clause_texts(question)
    return [ask_of(question, idf, asked), *(ask_of(c, idf, asked) for c in clauses if len(clauses) > 1)]


def heading_terms(*headings: str) -> frozenset[str]:
    """Terms of a passage's title and location, stopwords kept: "Python reference: with" names `with`."""
    text = " ".join(headings)
    return frozenset(tokenize(text)) | frozenset(stem(w) for w in _WORD.findall(text.lower()))


def coverage(ask: Ask, terms: Collection[str]) -> float:
    """The share of the question's key-term weight the terms hold, a term's relative standing in
    for it at RELATIVE_SHARE."""
    total = ask.total
    if total <= 0:
        return 0.0
    held = 0.0
    for t, w in ask.weights.items():
        if t in terms:
            held += w
        elif not ask.relatives.get(t, frozenset()).isdisjoint(terms):
            held += RELATIVE_SHARE * w
    return held / total


def proximity(ask: Ask, terms: Sequence[str]) -> float:
    """How tightly the sentence's key terms sit: matched terms over the shortest span holding them
    all (1.0 when they are adjacent or only one matches; 0.0 when none does)."""
    wanted = {t for t in terms if t in ask.weights}
    if not wanted:
        return 0.0
    if len(wanted) == 1:
        return 1.0
    last: dict[str, int] = {}
    best = len(terms)
    for i, t in enumerate(terms):
        if t in wanted:
            last[t] = i
            if len(last) == len(wanted):
                best = min(best, i - min(last.values()) + 1)
    return len(wanted) / best


def heading_match(ask: Ask, heading: Collection[str]) -> float:
    """The share of the entity's weight the passage's heading names."""
    total = sum(ask.weights[t] for t in ask.named)
    return sum(ask.weights[t] for t in ask.named if t in heading) / total if total > 0 else 0.0


def best_fit(asks: Sequence[Ask], terms: Sequence[str], heading: Collection[str]) -> float:
    """How well the sentence answers the whole question (the first ask) and its best-answered clause,
    equally: answering one clause of a compound question counts, answering all of it counts more."""
    fits = [fit(a, terms, heading) for a in asks]
    return (fits[0] + max(fits)) / 2 if fits else 0.0


def names_entity(ask: Ask, terms: Collection[str], heading: Collection[str]) -> bool:
    """Whether the sentence or its heading names what the question is about: most of the entity's
    weight. "The dbm module stores values" shares the verb and "module" with "How does the shelve
    module store values?", but it is about another module."""
    if ask.entity == frozenset(ask.weights):
        return True  # no noun phrase to look for: coverage alone judges
    total = sum(ask.weights[t] for t in ask.entity)
    named = sum(ask.weights[t] for t in ask.entity if t in terms or t in heading)
    return total <= 0 or named >= _ENTITY_SHARE * total


def answers(asks: Sequence[Ask], terms: Sequence[str], heading: Collection[str]) -> bool:
    """The answer-relevance check: the sentence answers one of the asks (fits it well enough and
    names its entity)."""
    have = set(terms)
    return any(fit(a, terms, heading) >= ANSWER_FLOOR and names_entity(a, have, heading) for a in asks)


def fit(ask: Ask, terms: Sequence[str], heading: Collection[str]) -> float:
    """How well a sentence (its terms, in order) under a heading answers the question, in [0, 1]."""
    own = coverage(ask, set(terms))
    # A heading naming the entity vouches for the sentence's topic, never for its content.
    topical = coverage(ask, set(terms) | set(heading))
    covered = (1 - HEADING_WEIGHT) * own + HEADING_WEIGHT * max(topical, heading_match(ask, heading))
    return covered * (1 - _PROXIMITY_SHARE + _PROXIMITY_SHARE * proximity(ask, terms))
