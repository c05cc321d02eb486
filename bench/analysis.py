"""Text analysis at ingest: sparse vectors of the shipped corpus's chunks per second, beside a plain word splitter.

Ours is `document_vector` (the code-aware analyzer, term ids, BM25 weights) on every chunk as
ingest computes it. The reference is the same vector built from a plain split into runs of letters
and digits with the same stop-words and stemmer: what the index used before names, operators and
keywords became terms. Best of several passes each, alternated, after an uncounted warm-up.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

from rich.console import Console

from bench.report import SummaryRow, ratio
from quarry_text import STOPWORDS, stem
from services.retriever.domain.chunking import chunk_document, indexed_text
from services.retriever.domain.corpus import sample_corpus
from services.retriever.domain.lexical import bm25_weight, document_vector, term_id

TARGET_SLOWDOWN = 1.5
_PLAIN_WORD = re.compile(r"[^\W_]+")


def run(console: Console, passes: int = 10) -> list[SummaryRow]:
    console.rule("[bold]Text analysis: sparse vectors of the shipped corpus, ours beside a plain word splitter")
    texts = [indexed_text(chunk) for document in sample_corpus() for chunk in chunk_document(document)]
    ours_s, plain_s = float("inf"), float("inf")
    _time(document_vector, texts)
    _time(_plain_vector, texts)
    for _ in range(passes):
        ours_s = min(ours_s, _time(document_vector, texts))
        plain_s = min(plain_s, _time(_plain_vector, texts))
    ours_rate, plain_rate = len(texts) / ours_s, len(texts) / plain_s
    slowdown = ratio(plain_rate, ours_rate)
    console.print(
        f"{len(texts):,} chunks ({sum(map(len, texts)) / 1e6:.2f} MB): ours {ours_rate:,.0f} chunks/s, "
        f"plain splitter {plain_rate:,.0f} chunks/s: ours takes {slowdown:.2f}x the time"
    )
    verdict = "ok" if slowdown <= TARGET_SLOWDOWN else "over"
    return [
        SummaryRow("analysis", "sparse vectors, ours", f"{ours_rate:,.0f} chunks/s"),
        SummaryRow("analysis", "sparse vectors, plain splitter", f"{plain_rate:,.0f} chunks/s"),
        SummaryRow("analysis", "ours / plain time", f"{slowdown:.2f}x", f"<= {TARGET_SLOWDOWN}x", verdict),
    ]


def _time(vector: Callable[[str], object], texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        vector(text)
    return time.perf_counter() - started


def _plain_vector(text: str) -> tuple[list[int], list[float]]:
    words = [
        stem(w)
        for w in (m.group() for m in _PLAIN_WORD.finditer(text.casefold()))
        if 2 <= len(w) <= 40 and w not in STOPWORDS
    ]
    counts = Counter(term_id(w) for w in words)
    indices = sorted(counts)
    return indices, [bm25_weight(counts[i], len(words)) for i in indices]
