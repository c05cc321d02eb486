"""Lexical scoring: tokens, stable term ids, and BM25 term weights for a sparse vector.

Qdrant's `Modifier.IDF` multiplies each query term by its inverse document frequency at search
time, so the stored document weights carry only BM25's term-frequency part:

    score(q, d) = sum over t in q of  idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))

with tf the count of t in d and |d| the token length of d.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from quarry_text import STOPWORDS, frames, stem, terms

__all__ = [
    "STOPWORDS",
    "SparseTerms",
    "bm25_weight",
    "document_vector",
    "own_terms",
    "query_vector",
    "stem",
    "term_id",
    "tokenize",
    "weighted_query_vector",
]

K1 = 1.2
B = 0.75
# Average indexed chunk length in terms (title, heading and text), measured at about 98 over the
# shipped sample corpus with the default chunk sizes. Fixed rather than recomputed per ingest batch
# so that a chunk's vector depends on the chunk alone: re-ingesting it, alone or with others, gives
# the same point, and weights stored at different times stay comparable. The chunker bounds chunk
# sizes, so real averages stay close to this one.
AVERAGE_CHUNK_TOKENS = 98.0
# A section's first sentence (its lead) is a second, short field: the words a section uses to say
# what it is for ("Recursively delete a directory tree") are the words a question in plain terms
# uses, while the rest of a chunk is parameters, caveats and examples. Its BM25 weights join the
# body's at LEAD_WEIGHT, with their own length normalisation (BM25F done by adding fields).
LEAD_WEIGHT = 0.75
AVERAGE_LEAD_TOKENS = 10.0


@dataclass(frozen=True, slots=True)
class SparseTerms:
    """A sparse vector as Qdrant takes it: ascending unique `indices`, matching `values`."""

    indices: list[int]
    values: list[float]


def tokenize(text: str) -> list[str]:
    """The terms of text as the index stores them (the shared code-aware analyzer), in text order."""
    return terms(text)


def term_id(term: str) -> int:
    """A term's sparse index: CRC-32, identical in every process and on every machine."""
    # Python's hash() of a str is salted per process, which would scramble a persistent index.
    return zlib.crc32(term.encode("utf-8"))


def bm25_weight(
    tf: int, doc_len: int, avg_doc_len: float = AVERAGE_CHUNK_TOKENS, k1: float = K1, b: float = B
) -> float:
    """BM25's saturating term-frequency factor; tends to k1 + 1 as tf grows."""
    norm = k1 * (1.0 - b + b * doc_len / avg_doc_len)
    return tf * (k1 + 1.0) / (tf + norm)


def document_vector(
    text: str, avg_doc_len: float = AVERAGE_CHUNK_TOKENS, lead: str = "", lead_weight: float = LEAD_WEIGHT
) -> SparseTerms:
    """The stored vector of a chunk: BM25 term weights, IDF left to the collection; the terms of
    its section's `lead` sentence add their own short-field weights at `lead_weight`."""
    weights = _field(text, avg_doc_len, 1.0)
    if lead and lead_weight > 0:
        for tid, weight in _field(lead, AVERAGE_LEAD_TOKENS, lead_weight).items():
            weights[tid] = weights.get(tid, 0.0) + weight
    indices = sorted(weights)
    return SparseTerms(indices, [weights[i] for i in indices])


def _field(text: str, avg_len: float, scale: float) -> dict[int, float]:
    tokens = tokenize(text)
    counts = Counter(term_id(token) for token in tokens)  # a hash collision just merges two terms
    return {tid: scale * bm25_weight(count, len(tokens), avg_len) for tid, count in counts.items()}


def own_terms(query: str) -> dict[str, float]:
    """The query's terms at 1.0; those that only frame the question ("difference between"), and
    keywords used as English words ("as if", "in a piece of text"), at `frames.WEIGHT`: each
    matched term scores idf * weight."""
    tokens = tokenize(query)
    # The keywords the query uses as prose, not as code: the index keeps "in" and "is" for "the in
    # operator", but "occurs in a text" asks nothing about it.
    prose = frozenset(tokens) - frozenset(terms(query, prose_keywords=False))
    quiet = frames.framing(query) | prose
    return {t: frames.WEIGHT if t in quiet else 1.0 for t in dict.fromkeys(tokens)}


def query_vector(text: str) -> SparseTerms:
    """The query vector: `own_terms`' weights."""
    return weighted_query_vector(own_terms(text))


CONTEXT_WEIGHT = 0.5
"""Most weight of a context's term (the question a sub-question belongs to) that the query lacks."""
CONTEXT_SHARE = 0.5
"""The context's other terms weigh together at most this share of the query's own."""


def in_context(query: str, context: str) -> dict[str, float]:
    """The query's terms at 1.0, and the context's other terms sharing CONTEXT_SHARE of their
    weight (each at most CONTEXT_WEIGHT): however long the question, the sub-question leads."""
    own = own_terms(query)
    framing = frames.framing(context)
    others = [t for t in dict.fromkeys(tokenize(context)) if t not in own and t not in framing]
    if not others:
        return own
    weight = min(CONTEXT_WEIGHT, CONTEXT_SHARE * max(len(own), 1) / len(others))
    return {**dict.fromkeys(others, weight), **own}


def search_vector(query: str, context: str = "") -> SparseTerms:
    """The query's vector; with a context, the context's other terms weighed as `in_context` says."""
    return weighted_query_vector(in_context(query, context)) if context else query_vector(query)


def weighted_query_vector(weights: Mapping[str, float]) -> SparseTerms:
    """A query vector from terms and their weights; terms whose ids collide add up."""
    summed: dict[int, float] = {}
    for term, weight in weights.items():
        if weight > 0:
            tid = term_id(term)
            summed[tid] = summed.get(tid, 0.0) + weight
    indices = sorted(summed)
    return SparseTerms(indices, [summed[i] for i in indices])
