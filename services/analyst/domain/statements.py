"""Statements that are not sentences on their own: reference text states some things in a shape
the sentence splitter cuts apart or finds too small, and each is still a verbatim piece of its passage.

- An API's summary line under its heading: "Recursively delete a directory tree." under
  `rmtree(path, ...)`, "Command-line parsing library" under `argparse`. Four words, or no verb at
  all, but labelled with the name it sits under it is the entry's definition.
- A lead that introduces a list, with the list: "This module is a ... library that:" followed by
  "- handles both optional and positional arguments", ...
- A prose line that hands over to code, with the code: "The simple form is equivalent to" followed
  by `if __debug__: ...`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.analyst.domain.text import TERMINAL, cut_in_half, is_boilerplate, looks_like_code

MAX_WORDS = 60
_MAX_CHARS = 450

# A summary line names what the entry is or does in a handful of words.
_SUMMARY_WORDS = (2, 20)
_SUMMARY_OPENING = re.compile(r"^[A-Z][a-z]")
_LISTED_OPENING = re.compile(r"^[A-Za-z][a-z]")


def summary_line(sentence: str, *, listed: bool = False) -> bool:
    """True when a sentence can state, under the API's label, what the API is or does: prose of a
    few words, with or without a full stop ("Temporary files.", "Command-line parsing library").
    A summary list's line (`listed`) may open in lower case ("return the size of an object in bytes")."""
    words = sentence.split()
    low, high = _SUMMARY_WORDS
    opening = _LISTED_OPENING if listed else _SUMMARY_OPENING
    if not low <= len(words) <= high or not opening.match(sentence) or cut_in_half(words):
        return False
    if sentence.rstrip().endswith((":", ",", ";")):
        return False  # it introduces what follows, it does not say anything yet
    return not looks_like_code(sentence) and not is_boilerplate(sentence)


# "that:", "the following:": a lead that hands over to the list below it.
_LEADS_A_LIST = re.compile(r"\w:$")
# A list item's marker as the normalised passage has it, between the text before and the item.
_ITEM_MARKER = re.compile(r"\s(?:[-*\u2022+]|\d{1,3}[.)])\s+")


def claim_with_list(lead: str, items: Sequence[str], haystack: str) -> str | None:
    """A lead ending in a colon with the list items that follow it in the (normalised) passage, as
    one claim that is a verbatim piece of it; as many items as fit a claim, None without one."""
    words = lead.split()
    if len(words) < 4 or not _LEADS_A_LIST.search(lead) or looks_like_code(lead) or cut_in_half(words):
        return None
    start = haystack.find(lead)
    if start < 0:
        return None
    end = start + len(lead)
    taken = 0
    for item in items:
        marker = _ITEM_MARKER.match(haystack, end)
        if marker is None or not haystack.startswith(item, marker.end()) or looks_like_code(item):
            break
        item_end = marker.end() + len(item)
        if len(haystack[start:item_end].split()) > MAX_WORDS or item_end - start > _MAX_CHARS:
            break
        end, taken = item_end, taken + 1
    return haystack[start:end] if taken else None


# A line of prose that hands over to code: "The simple form, "assert x", is equivalent to" + a block.
_INTRODUCES = re.compile(r"(?:\b(?:to|as|like|follows|is|are|means|writes?|becomes|gives)|:)$", re.I)
_MAX_CODE_CHARS = 160
_NOT_STATED_CODE = ("::=", ">>>", "$ ", "<")
# Python that reads almost as prose ("if __debug__: if not x: raise AssertionError"): a block
# opener's colon, a dunder name, a call.
_PYTHON = re.compile(r"^(?:if|for|while|def|class|with|try|async|elif|else)\b[^:]*:|\b__\w+__\b|\w\([^)]*\)")


def claim_with_code(lead: str, code: str, *, max_words: int = MAX_WORDS) -> str | None:
    """A prose line that introduces code, with that code, as one claim: the code is what it states
    ("is equivalent to if __debug__: ..."). None when the pair is not that."""
    words = lead.split()
    if len(words) < 4 or TERMINAL.search(lead) or not _INTRODUCES.search(lead):
        return None
    if looks_like_code(lead) or is_boilerplate(lead) or cut_in_half(words):
        return None
    # Not a grammar rule, a shell or interactive session (its output interleaved), or markup; the
    # length first, so the patterns below never scan a long (possibly hostile) line.
    if len(code) > _MAX_CODE_CHARS or any(m in code for m in _NOT_STATED_CODE):
        return None
    if not (looks_like_code(code) or _PYTHON.search(code) is not None):
        return None
    joined = f"{lead} {code}"
    return joined if len(joined.split()) <= max_words else None
