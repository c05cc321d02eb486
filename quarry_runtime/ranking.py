"""Merging ranked lists of passages from sources whose scores are not on one scale."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import zip_longest

from contracts.work import Passage


def interleave(lists: Sequence[Sequence[Passage]], limit: int) -> list[Passage]:
    """Round-robin over the ranked lists (their ranks compare, their scores do not), each passage
    once (by source and location), at most `limit`."""
    merged: list[Passage] = []
    seen: set[tuple[str, str]] = set()
    for row in zip_longest(*lists):
        for passage in row:
            if passage is None or (passage.source_id, passage.location) in seen:
                continue
            seen.add((passage.source_id, passage.location))
            merged.append(passage)
            if len(merged) >= limit:
                return merged
    return merged
