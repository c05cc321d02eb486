"""The retriever's metrics: pages a fetch task asked for, by outcome.

Outcomes are a closed set: `kept`, `duplicate`, or the one word a refusal gives (robots,
status, timeout, too_large, ..., no_text, over_limit); any word not known here counts as `other`.
"""

from __future__ import annotations

from typing import get_args

from quarry_runtime.metrics import Bounded, counter
from services.retriever.web.fetch import RefusalKind
from services.retriever.web.search import FetchedPages

PAGE_FETCHES = counter("quarry_page_fetches", "Pages fetch tasks asked for, by outcome", ("outcome",))
OUTCOMES = Bounded(("kept", "duplicate", "no_text", "over_limit", "off_host_batch", *get_args(RefusalKind)))


def count_fetches(pages: FetchedPages) -> None:
    """What became of each page of one fetched batch."""
    if pages.pages:
        PAGE_FETCHES.labels("kept").inc(len(pages.pages))
    if pages.duplicates:
        PAGE_FETCHES.labels("duplicate").inc(pages.duplicates)
    for kind, n in pages.refused.items():
        PAGE_FETCHES.labels(OUTCOMES(kind)).inc(n)


def count_off_host(pages: int) -> None:
    """A batch refused whole: some of its pages were not on the host policy allowed."""
    PAGE_FETCHES.labels("off_host_batch").inc(pages)
