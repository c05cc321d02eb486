"""Near-duplicate pages: mirrors, syndicated copies and print views of one text, kept once.

Resemblance is the Jaccard similarity of the pages' sets of word 5-shingles (Broder). A search
fetches a handful of pages, so the sets are compared exactly; MinHash or SimHash would only
approximate the same number to save work we do not have.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

SHINGLE_WORDS = 5
NEAR_DUPLICATE = 0.8
_WORD = re.compile(r"\w+")


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[int]:
    """Hashes of every run of `size` consecutive words, case and punctuation ignored."""
    words = _WORD.findall(text.casefold())
    if len(words) <= size:
        return frozenset({zlib.crc32(" ".join(words).encode())}) if words else frozenset()
    return frozenset(zlib.crc32(" ".join(words[i : i + size]).encode()) for i in range(len(words) - size + 1))


def resemblance(a: frozenset[int], b: frozenset[int]) -> float:
    """Jaccard similarity of two shingle sets; 0 when either is empty."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def drop_near_duplicates(
    items: Sequence[T], text: Callable[[T], str], threshold: float = NEAR_DUPLICATE
) -> tuple[list[T], list[T]]:
    """(kept, dropped): an item is dropped when it resembles an earlier kept one at least `threshold`.

    Items come best first, so of a group of near-duplicates the best-ranked copy stays.
    """
    kept: list[T] = []
    kept_shingles: list[frozenset[int]] = []
    dropped: list[T] = []
    for item in items:
        own = shingles(text(item))
        if any(resemblance(own, other) >= threshold for other in kept_shingles):
            dropped.append(item)
            continue
        kept.append(item)
        kept_shingles.append(own)
    return kept, dropped
