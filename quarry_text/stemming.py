"""A light English stemmer: enough for "uses", "used" and "using" to meet, never a dictionary."""

from __future__ import annotations


def stem(word: str) -> str:
    """Strip common English inflections (plural -s/-es/-ies, -ing, -ed, final -e) from a lower-case word."""
    if len(word) < 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and len(word) > 3 and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 4 and _has_vowel(word[:-3]):
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) > 3 and not word.endswith("eed") and _has_vowel(word[:-2]):
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 2:
        word = word[:-1]
    return word


def _has_vowel(part: str) -> bool:
    return any(c in "aeiouy" for c in part)


def _undouble(part: str) -> str:
    # running -> runn -> run, but passed -> pass and called -> call keep their pair
    if len(part) > 2 and part[-1] == part[-2] and part[-1] not in "aeiouylsz":
        return part[:-1]
    return part
