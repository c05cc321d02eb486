"""Lexical scoring: tokens, stable term ids, and BM25 term weights for a sparse vector.

Qdrant's `Modifier.IDF` multiplies each query term by its inverse document frequency at search
time, so the stored document weights carry only BM25's term-frequency part:

    score(q, d) = sum over t in q of  idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))

with tf the count of t in d and |d| the token length of d.
"""

from __future__ import annotations

import keyword
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

K1 = 1.2
B = 0.75
# Average indexed chunk length in tokens (title, heading and text), measured at about 88 over the
# shipped sample corpus with the default chunk sizes. Fixed rather than recomputed per ingest batch
# so that a chunk's vector depends on the chunk alone: re-ingesting it, alone or with others, gives
# the same point, and weights stored at different times stay comparable. The chunker bounds chunk
# sizes, so real averages stay close to this one.
AVERAGE_CHUNK_TOKENS = 88.0

_WORD = re.compile(r"[^\W_]+")  # letters and digits; `_` splits snake_case and dunder names
_MAX_TOKEN = 40

# A common English list minus Python's keywords: in a corpus about Python, "with", "for", "if",
# "in", "is", "not" and friends are the very words people search for. ("re" is left out too: it is
# a module name here more often than the tail of "you're".)
_ENGLISH_STOPWORDS = """
    a about above after again against all am an any are aren at be because been before being
    below between both but by can cannot could couldn did didn do does doesn doing don down
    during each few further had hadn has hasn have haven having he her here hers herself him
    himself his how i into it its itself just let me more most mustn my myself no nor of off on
    once only other ought our ours ourselves out over own same shan she should shouldn so some
    such than that the their theirs them themselves then there these they this those through to
    too under until up very was wasn we were weren what when where which who whom why won
    would wouldn you your yours yourself yourselves ll ve
"""
STOPWORDS: frozenset[str] = frozenset(_ENGLISH_STOPWORDS.split()) - frozenset([*keyword.kwlist, *keyword.softkwlist])


@dataclass(frozen=True, slots=True)
class SparseTerms:
    """A sparse vector as Qdrant takes it: ascending unique `indices`, matching `values`."""

    indices: list[int]
    values: list[float]


def tokenize(text: str) -> list[str]:
    """Lowercased, stopword-free, lightly stemmed word tokens in text order."""
    tokens: list[str] = []
    for match in _WORD.finditer(text.casefold()):
        word = match.group()
        if len(word) < 2 or len(word) > _MAX_TOKEN or word in STOPWORDS:
            continue
        tokens.append(stem(word))
    return tokens


def stem(word: str) -> str:
    """Strip common English inflections (plural -s/-es/-ies, -ing, -ed, final -e)."""
    if len(word) < 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and len(word) > 3 and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and _has_vowel(word[:-3]) and len(word) > 4:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and not word.endswith("eed") and _has_vowel(word[:-2]) and len(word) > 3:
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) > 2:
        word = word[:-1]
    return word


def _has_vowel(stem_: str) -> bool:
    return any(c in "aeiouy" for c in stem_)


def _undouble(stem_: str) -> str:
    # running -> runn -> run, but passed -> pass and called -> call keep their pair
    if len(stem_) > 2 and stem_[-1] == stem_[-2] and stem_[-1] not in "aeiouylsz":
        return stem_[:-1]
    return stem_


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


def document_vector(text: str, avg_doc_len: float = AVERAGE_CHUNK_TOKENS) -> SparseTerms:
    """The stored vector of a chunk: BM25 term weights, IDF left to the collection."""
    tokens = tokenize(text)
    counts = Counter(term_id(token) for token in tokens)  # a hash collision just merges two terms
    indices = sorted(counts)
    return SparseTerms(indices, [bm25_weight(counts[i], len(tokens), avg_doc_len) for i in indices])


def query_vector(text: str) -> SparseTerms:
    """The query vector: 1.0 per distinct term, so each matched term scores idf * weight."""
    return _ones(term_id(token) for token in tokenize(text))


def _ones(ids: Iterable[int]) -> SparseTerms:
    indices = sorted(set(ids))
    return SparseTerms(indices, [1.0] * len(indices))
