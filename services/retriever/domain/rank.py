"""BM25 over the chunks of the pages one search fetched, to pick the passages worth citing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from services.retriever.domain.chunking import Chunk, indexed_text
from services.retriever.domain.lexical import K1, B, bm25_weight, tokenize


def rank_chunks(query: str, chunks: Sequence[Chunk], k1: float = K1, b: float = B) -> list[tuple[Chunk, float]]:
    """Every chunk with its BM25 score for `query`, best first; ties keep the given order.

    IDF is taken over these chunks alone: the pages of one search are the corpus of the moment.
    """
    if not chunks:
        return []
    terms = set(tokenize(query))
    docs = [Counter(tokenize(indexed_text(chunk))) for chunk in chunks]
    lengths = [sum(doc.values()) for doc in docs]
    average = max(1.0, sum(lengths) / len(docs))
    n = len(docs)
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t in terms if (df := sum(t in doc for doc in docs))}
    scored = [
        (chunk, sum(w * bm25_weight(doc[t], length, average, k1, b) for t, w in idf.items() if t in doc))
        for chunk, doc, length in zip(chunks, docs, lengths, strict=True)
    ]
    return sorted(scored, key=lambda pair: -pair[1])
