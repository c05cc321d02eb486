"""A question's parts: its clauses, and the steps of a how-to clause ("How do I X and then Y?")."""

from __future__ import annotations

import re

from services.analyst.domain.clauses import CLAUSE_SPLIT, clean_phrase

_HOWTO = re.compile(
    r"^(?P<opener>how\s+(?:do|can|could|should|would|might)\s+(?:i|we|you|one)|how\s+to)\s+(?P<rest>.+?)[?.!]?$",
    re.I,
)
# Where one step ends and the next begins: "and then", ", then", or "and" before a verb acting on
# something ("and encode it", "and print the result").
_STEP = re.compile(
    r",?\s+and\s+(?:then|later|afterwards)\s+|,\s+then\s+"
    r"|,?\s+and\s+(?=[a-z]+\s+(?:it|them|its|their|the|each|every|all)\b)",
    re.I,
)
# A step must name this many words beyond these to be worth its own search ("open" is not).
_LEAST_STEP_WORDS = 2
_FILLER_TEXT = "a an the it them its their this that of to in into on as and or some all each every"
_FILLER = frozenset(_FILLER_TEXT.split())


def clause_texts(question: str) -> list[str]:
    """The question's clauses (split before a question word, at "?" or ";"), a how-to clause further
    split into its steps when every step names enough to search for: each step is its own search."""
    out: list[str] = []
    for text in CLAUSE_SPLIT.split(question):
        if not clean_phrase(text):
            continue
        howto = _HOWTO.match(text.strip())
        steps = _STEP.split(howto.group("rest")) if howto is not None else []
        if howto is not None and len(steps) > 1 and all(_enough(step) for step in steps):
            out += [f"{howto.group('opener')} {step}" for step in _carried(steps)]
        else:
            out.append(text)
    return out


def _enough(step: str) -> bool:
    return sum(w not in _FILLER for w in re.findall(r"[a-z0-9_]+", step.lower())) >= _LEAST_STEP_WORDS


def _carried(steps: list[str]) -> list[str]:
    """Later steps with what the first acts on in place of "it"/"them", and its verb when they
    leave it out: "turn a date string into a datetime, and then into seconds" gives "turn a date
    string into seconds"."""
    verb, _, rest = steps[0].partition(" ")
    thing = _OBJECT_END.split(rest, maxsplit=1)[0].strip()
    out = [steps[0]]
    for step in steps[1:]:
        if _PREPOSITION.match(step):
            step = f"{verb} it {step}"
        out.append(_IT.sub(lambda _: thing, step, count=1) if thing else step)
    return out


_PREPOSITION = re.compile(r"^(?:into|to|as|from|with|in|on|onto|over)\b", re.I)
_IT = re.compile(r"\b(?:it|them)\b", re.I)
# What a step acts on ends where the step says where or how it goes: "a date string| into a datetime".
_OBJECT_END = re.compile(r"\s+(?:into|to|as|from|with|in|on|onto|over|using|by|so|for|without|and)\b", re.I)
