"""Words a question's wording uses to frame what it asks, not to name it.

"What is the difference between is and ==?" asks about `is` and `==`; "difference" is how the
question is put, yet as a search term it finds `difflib` ("compute a human-friendly diff"). "What
does -> mean?" finds the `statistics` module's `mean`. Matched only in the constructions that make
them framing, so "the arithmetic mean" and "the set difference" still search for what they name.
"""

from __future__ import annotations

import re

from quarry_text.analyzer import terms

WEIGHT = 0.3
"""Weight of a framing term; the question's other terms weigh 1."""

# What may follow the framing verb: a scope ("in a function definition"), then the question's end.
_SCOPE = r"(?:\s+(?:in|for|when|inside|within|on|with)\b[^?.!]*)?\s*[?.!]*\s*$"
_FRAMES = (
    re.compile(r"\b(differences?)\s+(?:between|among)\b", re.I),
    re.compile(r"\bhow\s+(?:does|do)\s+\S.*?\s(differ)\b", re.I),
    re.compile(rf"^\s*what\s+(?:does|do|did)\s+\S.*?\s(mean){_SCOPE}", re.I),
    re.compile(rf"^\s*how\s+(?:does|do)\s+\S.*?\s(work){_SCOPE}", re.I),
    re.compile(r"\bwhat\s+(happens)\b", re.I),
    re.compile(r"\bhow\s+(?:can|do)\s+(?:i|you|we|one)\s+(tell)\s+(?:whether|if)\b", re.I),
)
_LONGEST = 2_000  # a question is bounded upstream; the patterns never scan more than this


def framing(question: str) -> frozenset[str]:
    """The terms of `question` that frame it (as `terms` gives them): to weigh at WEIGHT."""
    text = question[:_LONGEST]
    return frozenset(t for frame in _FRAMES for found in frame.finditer(text) for t in terms(found.group(1)))
