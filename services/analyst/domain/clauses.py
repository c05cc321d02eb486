"""A research question parsed into clauses: subjects, comparisons, aspects and predicates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

from services.analyst.domain.text import normalise

Kind = Literal["what", "how", "howto", "why", "compare"]

_WH = r"(?:what|how|why|when|where|which|who|whom|whose|is|are|does|do|did|can|could|should|would|will)"
# A "?" ends a clause only before the end, a capital or a question word: in "like * and ? match"
# it is the wildcard being asked about.
CLAUSE_SPLIT = re.compile(
    rf"\s*(?:\?(?=\s*$|\s*(?-i:[A-Z])|\s*{_WH}\b)\s*|;\s*|,?\s+(?:and|but|also|or)\s+(?=(?:also\s+)?{_WH}\b))",
    re.I,
)
_AUX = r"(?:is|are|was|were|does|do|did|can|could|should|would|will|has|have|had)"
_COMPARE_PATTERNS = (
    re.compile(r"^(?:please\s+)?(?:compare|contrast)\s+(?P<s>.+)$", re.I),
    re.compile(
        r"^(?:what|how)(?:'s|\s+is|\s+are|\s+do|\s+does)?\s+(?:the\s+)?(?:main\s+|key\s+)?"
        r"(?:differences?|similarit(?:y|ies)|trade-?offs?)\s+(?:between|of|among)\s+(?P<s>.+)$",
        re.I,
    ),
    re.compile(r"^(?:how|in what ways?)\s+(?:does|do|did)\s+(?P<s>.+?)\s+(?:compare|differ)\b(?P<t>.*)$", re.I),
    re.compile(r"^(?:which|what)\s+is\s+better,?\s+(?P<s>.+)$", re.I),
    re.compile(r"^(?:\w+\s+){0,3}?(?:is|are)?\s*(?P<s>.+?\s+(?:vs\.?|versus)\s+.+)$", re.I),
)
_IMPERATIVE = re.compile(
    r"^(?:please\s+)?(?:explain|describe|summari[sz]e|define|discuss|research|investigate|"
    r"tell me about|give (?:me )?an overview of|an overview of|overview of)\s+(?P<s>.+)$",
    re.I,
)
_HOWTO = re.compile(r"^how\s+(?:to|(?:do|can|should|could|would)\s+(?:i|we|you|one))\s+(?P<s>.+)$", re.I)
_WHY = re.compile(rf"^why\s+(?:{_AUX}(?:n't)?\s+)?(?P<s>.+)$", re.I)
_HOW = re.compile(rf"^how\s+{_AUX}\s+(?P<s>.+)$", re.I)
# "What does X do?", "What does X mean?": the question is about X, not "X do".
_WHAT_DOES = re.compile(r"^what\s+(?:does|do|did)\s+(?P<s>.+?)\s+(?:do|mean|return|represent|contain|provide)$", re.I)
_WHAT = re.compile(rf"^(?:what|which|who|where|when)(?:'s|'re)?(?:\s+{_AUX})?\s+(?P<s>.+)$", re.I)
_ASPECT = re.compile(
    r"^(?:the\s+)?(?:main\s+|key\s+|common\s+|most\s+important\s+|primary\s+|typical\s+)?"
    r"(?:benefits?|advantages?|disadvantages?|drawbacks?|pros and cons|risks?|causes?|effects?|"
    r"limitations?|uses?|applications?|examples?|types?|kinds?|history|future|role|impacts?|costs?|"
    r"alternatives?|principles?|basics|fundamentals|components?|features?|properties|origins?|"
    r"consequences?|challenges?|best practices|purpose|meaning|definition|idea|concept)\s+"
    r"(?:of|for|to|in|behind)\s+(?:using\s+)?(?P<s>.+)$",
    re.I,
)
_LIST_SPLIT = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|\s+(?:and|or|vs\.?|versus)\s+)\s*", re.I)
_QUALIFIER = re.compile(r"\s+(?=(?:in|for|on|within|during|under|across|at|inside)\s+\S)", re.I)
_BE = frozenset({"is", "are", "was", "were"})
_IRREGULAR_PAST = {
    "fall": "fell",
    "go": "went",
    "begin": "began",
    "become": "became",
    "win": "won",
    "lose": "lost",
    "make": "made",
    "take": "took",
    "break": "broke",
    "rise": "rose",
    "get": "got",
    "come": "came",
    "leave": "left",
    "grow": "grew",
    "do": "did",
    "have": "had",
    "run": "ran",
    "sink": "sank",
    "fight": "fought",
    "build": "built",
    "spread": "spread",
    "fly": "flew",
    "die": "died",
}
PRONOUN_SUBJECT = re.compile(r"\b(?:it|they|them|this|that|these|those)\b", re.I)
_FILLER = frozenset({"exactly", "actually", "really", "basically", "generally", "typically"})
_PRONOUNS = frozenset({"i", "we", "you", "one", "they", "people"})
_PREPOSITIONS = frozenset({"in", "for", "on", "within", "during", "under", "across", "at", "inside", "from"})
_BINOMIALS = (
    "pros and cons",
    "advantages and disadvantages",
    "strengths and weaknesses",
    "trial and error",
    "research and development",
    "supply and demand",
    "rock and roll",
    "black and white",
    "salt and pepper",
    "input and output",
)
_VERB_TEXT = """
    work function operate behave happen differ compare matter help affect impact improve influence change
    cause fail scale run perform handle use interact relate lead contribute train protect prevent reduce
    increase support compute store manage implement evolve emerge exist occur spread grow form develop
    learn communicate process produce generate create make get become mean achieve ensure enable
    detect measure predict determine control regulate transfer convert release clean close open
    purr fly swim sleep eat breathe move travel die survive reproduce adapt respond
"""
_VERBS = frozenset(_VERB_TEXT.split())


def verb_form(word: str) -> Literal["bare", "inflected", ""]:
    """Whether the word is one of the listed verbs, bare ("compute") or inflected ("computes",
    "stored"); "" when it is neither."""
    w = word.lower()
    if w in _VERBS:
        return "bare"
    stems = {w.removesuffix("s"), w.removesuffix("es"), w.removesuffix("d"), w.removesuffix("ed")}
    inflected = any(s in _VERBS for s in stems - {w}) or (w.endswith("ies") and w[:-3] + "y" in _VERBS)
    return "inflected" if inflected else ""


_ADJECTIVE = re.compile(
    r"^(?:slow|fast|quick|blue|red|green|important|popular|useful|necessary|better|worse|best|worst|hard|"
    r"difficult|easy|expensive|cheap|dangerous|safe|secure|insecure|good|bad|common|rare|possible|"
    r"impossible|different|similar|needed|required|preferred|used|true|false|wrong|right|successful|"
    r"\w+(?:ive|ful|ous|able|ible|ic|ent|ant|ed|en|less|ary))$",
    re.I,
)


@dataclass(frozen=True)
class Subject:
    """A topic phrase split into its core and a trailing qualifier such as "in Python"."""

    core: str
    qualifier: str = ""

    @property
    def phrase(self) -> str:
        """Core and qualifier together, as the user wrote them."""
        return f"{self.core} {self.qualifier}".strip()

    @property
    def plural(self) -> bool:
        """Whether templates need "are"/"do" rather than "is"/"does"."""
        last = self.core.split()[-1] if self.core else ""
        return " and " in self.core or (
            last.islower() and last.endswith("s") and not last.endswith(("ss", "us", "is", "ics", "'s"))
        )


@dataclass(frozen=True)
class Clause:
    """One question inside the user's question, classified and reduced to its subjects."""

    text: str
    kind: Kind
    subjects: tuple[Subject, ...]
    qualifier: str = ""
    proposition: str = ""


def sentence_case(text: str) -> str:
    text = normalise(text).rstrip(" ?.!,;:")
    return text[:1].upper() + text[1:] + "?" if text else ""


def clean_phrase(phrase: str) -> str:
    words = [w for w in normalise(phrase).strip(" ?.!,;:\"'").split() if w.lower() not in _FILLER]
    return " ".join(words)


def _subject(phrase: str) -> Subject:
    phrase = clean_phrase(phrase)
    aspect = _ASPECT.match(phrase)
    if aspect:
        phrase = aspect.group("s")
    parts = _QUALIFIER.split(phrase, maxsplit=1)
    if len(parts) == 2 and parts[0]:
        return Subject(parts[0].strip(), parts[1].strip())
    return Subject(phrase)


def _third_person(verb: str) -> str:
    if re.search(r"(?:s|sh|ch|x|z|o)$", verb):
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    return verb + "s"


def _past(verb: str) -> str:
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    return verb + "ed"


def _proposition(core: str, aux: str, predicate: str) -> str:
    """Turn the pieces of "why is X Y" / "why does X Z" back into the statement "X is Y" / "X Zs"."""
    if not predicate:
        return ""
    verb, _, rest = predicate.partition(" ")
    if aux == "does":
        verb = _third_person(verb)
    elif aux == "did":
        verb = _past(verb)
    elif aux not in ("do", ""):
        verb = f"{aux} {verb}"
    return " ".join(p for p in (core, verb, rest) if p)


class _Cut(NamedTuple):
    topic: str  # what the sub-questions ask about: "the with statement in Python"
    actor: str  # grammatical subject of the statement: "the with statement"
    predicate: str  # verb phrase after it: "work in Python"


def _cut_predicate(rest: str, *, be: bool) -> _Cut:
    """Split "X work in Y" / "X slow" into topic, grammatical subject and predicate."""
    words = rest.split()
    if len(words) < 2:
        return _Cut(rest, rest, "")
    if words[0].lower() in _PRONOUNS:
        # "why do we sleep": the topic is the verb (or its object), not "we".
        return _Cut(" ".join(words[2:]) or words[1], words[0], " ".join(words[1:]))
    lowered = [w.lower().strip(",") for w in words]
    if be:
        # "why is the sky blue": the adjective at the end is the predicate.
        if _ADJECTIVE.match(lowered[-1]) and lowered[-2] not in ("the", "a", "an"):
            actor = " ".join(words[:-1])
            return _Cut(actor, actor, words[-1])
        return _Cut(rest, rest, "")
    cut = next((i for i, w in enumerate(lowered[1:], 1) if w in _VERBS or w.rstrip("s") in _VERBS), None)
    if cut is None:
        cut = next((i - 1 for i, w in enumerate(lowered[2:], 2) if w in _PREPOSITIONS), len(words) - 1)
    actor, tail = " ".join(words[:cut]), words[cut + 1 :]
    # A locative tail ("in Python") scopes the topic as well as the verb.
    topic = " ".join([actor, *tail]) if tail and tail[0].lower() in _PREPOSITIONS else actor
    return _Cut(topic, actor, " ".join(words[cut:]))


def _entities(phrase: str) -> list[str]:
    """Split "A, B and C" / "A vs B" into items; protected pairs like "pros and cons" stay whole."""
    guarded = phrase
    for i, pair in enumerate(_BINOMIALS):
        guarded = re.sub(re.escape(pair), f"\x00{i}\x00", guarded, flags=re.I)
    items = [clean_phrase(p) for p in _LIST_SPLIT.split(guarded)]
    restored = [re.sub(r"\x00(\d+)\x00", lambda m: _BINOMIALS[int(m.group(1))], p) for p in items]
    return [p for p in restored if p]


def parse_clause(text: str) -> Clause:
    clause = clean_phrase(text)
    for pattern in _COMPARE_PATTERNS:
        m = pattern.match(clause)
        if m:
            other = re.sub(r"^\s*(?:to|with|from|and)\s+", "", m.groupdict().get("t") or "")
            items = _entities(m.group("s") + (" and " + other if other else ""))
            if len(items) >= 2:
                # "A vs B for analytics": the qualifier scopes the comparison, not just B.
                last = _subject(items[-1])
                names = (*items[:-1], last.core)
                return Clause(clause, "compare", tuple(Subject(n) for n in names), last.qualifier)
    if m := _IMPERATIVE.match(clause):
        return _listed(clause, "what", m.group("s"))
    if m := _HOWTO.match(clause):
        return Clause(clause, "howto", (Subject(clean_phrase(m.group("s"))),))
    if m := _WHY.match(clause):
        found = re.match(rf"^why\s+({_AUX})\b", clause, re.I)
        aux = found.group(1).lower() if found else ""
        cut = _cut_predicate(m.group("s"), be=aux in _BE)
        proposition = _proposition(cut.actor, aux, cut.predicate)
        return Clause(clause, "why", (_subject(cut.topic),), proposition=proposition)
    if m := _HOW.match(clause):
        be = clause.split()[1].lower() in _BE
        return Clause(clause, "how", (_subject(_cut_predicate(m.group("s"), be=be).topic),))
    if m := _WHAT_DOES.match(clause) or _WHAT.match(clause):
        return _listed(clause, "what", m.group("s"))
    return _listed(clause, "what", clause)


def _listed(clause: str, kind: Kind, phrase: str) -> Clause:
    subject = _subject(phrase)
    items = _entities(subject.core)
    # Only short items are a list ("A, B and C"); long ones are one phrase that happens to say "and".
    if len(items) >= 2 and all(len(i.split()) <= 4 for i in items):
        return Clause(clause, kind, tuple(Subject(i, subject.qualifier) for i in items))
    return Clause(clause, kind, (subject,))
