"""What a sub-question is about: references resolved to the entity they name, and whether a
phrase is a noun phrase that aspect templates can be built on."""

from __future__ import annotations

import functools
import re

from services.analyst.domain.clauses import Clause, Subject, parse_clause, verb_form

# "it", "they", "them" always stand for something said earlier; "this", "these" and "those" do
# when nothing follows them that they could determine ("this module" names its own noun).
_REFERENCE = re.compile(
    r"\b(?:it|they|them)\b|\b(?:this|these|those)\b(?=\s*$|\s+(?:is|are|was|were|do|does|did|in|for|with|to|from|on)\b)"
    r"|\b(?P<owner>its|their)\b",
    re.I,
)
# Words that open a clause or belong to the asker: a phrase holding one is a statement, not a name.
_NOT_IN_A_NAME_TEXT = (
    "i we you me my our your it they them he she that so if whether when while because than without as"
)
_NOT_IN_A_NAME = frozenset(_NOT_IN_A_NAME_TEXT.split())
_MOST_WORDS_IN_A_NAME = 5
# A determiner, up to three words and a noun saying what kind of thing they name: "the with
# statement", "a simple assert statement", "the shelve module".
_NAMED_KINDS = r"statement|module|function|class|method|operator|keyword|clause|expression|loop|decorator|exception"
_KIND_PHRASE = re.compile(rf"\b(?:the|an?)\s+(?:[\w.:=<>!+*/-]+\s+){{0,3}}?(?:{_NAMED_KINDS})\b", re.I)


def is_nominal(subject: Subject) -> bool:
    """True for a short noun phrase ("the with statement", "functools.lru_cache"), false for a
    statement ("functions compute the mean"), which templates would turn into nonsense."""
    words = [w.strip(",;:").lower() for w in subject.core.split()]
    if not words or len(words) > _MOST_WORDS_IN_A_NAME:
        return False
    scope = [w.strip(",;:").lower() for w in subject.qualifier.split()]
    if any(w in _NOT_IN_A_NAME for w in [*words, *scope]):
        return False
    return not any(_predicate(words, i) for i in range(1, len(words)))


def _predicate(words: list[str], i: int) -> bool:
    """Whether words[i] is a verb: an inflected one ("gives", "stored"), or a bare one after a plural
    ("functions compute"); a bare one after anything else is a noun ("remote work", "the process")."""
    form = verb_form(words[i])
    plural = words[i - 1].endswith("s") and not words[i - 1].endswith("ss")
    return form == "inflected" or (form == "bare" and plural)


# "Which module parses TOML", "what function should I call to flush": the thing asked for is named
# by its kind and what it does, which is what a later "it" stands for ("and what does it return?").
_KINDS = rf"{_NAMED_KINDS}|library|package|tool|type|attribute|call|api"
_ASKED_BY_KIND = re.compile(
    rf"^\s*(?:which|what)\s+(?P<kind>(?:[\w-]+\s+){{0,2}}?(?:{_KINDS})s?)\s+(?P<rest>\S.*?)\s*[?.!]*$", re.I
)
# "... should I call to flush": asker and auxiliary in statement order, "do" dropped ("I use").
_ASKER_FIRST = re.compile(
    r"^(?P<aux>do|does|did|should|can|could|would|will|must|may|might|shall)\s+(?P<who>i|we|you|one)\s+(?P<tail>.+)",
    re.I,
)


def _asked_by_kind(text: str) -> str | None:
    """ "which module parses TOML" -> "the module that parses TOML"; "what function should I call"
    -> "the function I should call"; None when the clause does not ask for a thing by its kind."""
    found = _ASKED_BY_KIND.match(text)
    if found is None:
        return None
    kind, rest = found.group("kind"), found.group("rest")
    asker = _ASKER_FIRST.match(rest)
    if asker is None:
        return f"the {kind} that {rest}"
    aux = "" if asker.group("aux").lower() in {"do", "does", "did"} else f" {asker.group('aux')}"
    return f"the {kind} {asker.group('who')}{aux} {asker.group('tail')}"


# A head is a noun and its determiner or a modifier or two ("two strings"); longer, it is more
# likely a clause whose verb the word list does not know ("module parses the format").
_MOST_WORDS_IN_A_HEAD = 3
# Where a noun phrase's head ends and what describes it begins: "two strings| that look identical".
_DESCRIBED = re.compile(r"\s+(?:that|which|who|whose|where)\b|\s*[,(]", re.I)


def _antecedent(earlier: list[Clause]) -> str | None:
    for clause in reversed(earlier):
        asked = _asked_by_kind(clause.text)
        if asked is not None:
            return asked
        subject = clause.subjects[0]
        if is_nominal(subject) and not _REFERENCE.fullmatch(subject.core):
            return subject.phrase
        # "two strings that look identical, an é typed as ...": too long to name, but its head does.
        head = Subject(_DESCRIBED.split(subject.core, maxsplit=1)[0].strip())
        if (
            head.core != subject.core
            and len(head.core.split()) <= _MOST_WORDS_IN_A_HEAD
            and is_nominal(head)
            and not _REFERENCE.search(head.core)
        ):
            return head.phrase
        # "What is a simple assert statement equivalent to": no noun-phrase subject, but the clause
        # still names a thing by its kind, which is what a later "it" stands for.
        kind = _KIND_PHRASE.search(clause.text)
        if kind is not None:
            return kind.group(0)
    return None


def _named(name: str, found: re.Match[str]) -> str:
    # "its limits" becomes "X's limits"; "their state" becomes "iterators' state".
    if not found.group("owner"):
        return name
    return f"{name}'" if name.endswith("s") and not name.endswith("ss") else f"{name}'s"


def resolve_references(clauses: list[Clause]) -> list[Clause]:
    """Rewrite each later clause's "it"/"this"/"they"/"its" as the entity an earlier clause asked about:
    "What does X do and how do I clear it?" gives "how do I clear X", which searches for X."""
    out: list[Clause] = []
    for clause in clauses:
        name = _antecedent(out) if out else None
        if name is not None and _REFERENCE.search(clause.text):
            # A function, not a template string: a name may hold backslashes.
            clause = parse_clause(_REFERENCE.sub(functools.partial(_named, name), clause.text))
        out.append(clause)
    return out
