"""Indexing the shipped sample corpus at start-up, from a cache of its chunks and vectors.

The corpus, the chunker and the vectors are deterministic, so what one start computed (seconds
of CPU; minutes with a local embedding model) serves every later start, on this machine or in
any replica sharing the cache directory. A cache file is used only when the key stored in it
matches the one computed now (the corpus text, the chunking, analysis and scoring code, the embedding
model and its dimension) and every entry has the expected shape; otherwise the chunks are
computed again and the file rewritten, atomically.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import inspect
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import quarry_text.analyzer
from quarry_text import ANALYSIS_VERSION
from services.retriever.domain import chunking, lexical
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document, sample_corpus
from services.retriever.domain.lexical import SparseTerms
from services.retriever.index import PUBLIC_TENANT, Prepared, SourceIndex, indexed_text

log = logging.getLogger(__name__)

# Bumped when the file's layout changes; the code that computes the entries is hashed instead.
FORMAT = 2
_PREFIX = "sample-corpus-"
# A file unused this long is of a corpus, code or model gone by (each edit of the chunker makes one).
STALE_S = 30 * 24 * 3600.0


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/quarry, else ~/.cache/quarry."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quarry"


def cache_key(documents: Sequence[Document], index: SourceIndex) -> dict[str, Any]:
    """Everything the prepared chunks depend on; two equal keys mean equal entries."""
    corpus = hashlib.sha256()
    for document in documents:
        for part in (document.doc_id, document.title, document.content_type, document.text):
            corpus.update(part.encode("utf-8", "surrogatepass"))
            corpus.update(b"\x00")
    # The chunker and the BM25 weights are code, not settings: an edit to either must not be
    # answered with vectors the old code computed.
    code = hashlib.sha256()
    modules = (chunking, lexical, quarry_text.analyzer, quarry_text.stemming, quarry_text.stopwords)
    for source in (*map(inspect.getsource, modules), inspect.getsource(indexed_text)):
        code.update(source.encode("utf-8"))
    embedder = index.embedder
    return {
        "format": FORMAT,
        "corpus": corpus.hexdigest(),
        "documents": len(documents),
        "code": code.hexdigest(),
        "analysis": ANALYSIS_VERSION,
        "avg_doc_len": index.avg_doc_len,
        "embedder": None if embedder is None else embedder.name,
        "dimension": None if embedder is None else embedder.dimension,
    }


class CorpusCache:
    """Prepared chunks of one corpus under a directory, a file per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.directory / f"{_PREFIX}{digest}.json.gz"

    def load(self, key: dict[str, Any]) -> list[Prepared] | None:
        """The entries stored under `key`; None when absent, unreadable or not what the key says."""
        path = self.path(key)
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                stored = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, EOFError, ValueError) as exc:
            log.warning("ignoring the corpus cache %s: %s", path, exc)
            return None
        try:
            if not isinstance(stored, dict) or stored.get("key") != key:
                raise ValueError("its key differs")
            entries = _entries(stored.get("entries"), key["dimension"])
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring the corpus cache %s: %s", path, exc)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: not stale
        return entries

    def save(self, key: dict[str, Any], prepared: Sequence[Prepared]) -> None:
        """Write the entries under `key`; a reader sees the old file or the whole new one, never a part."""
        path = self.path(key)
        body = {"key": key, "entries": [_entry(item) for item in prepared]}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8", compresslevel=1) as f:
                    json.dump(body, f, separators=(",", ":"))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a read-only or full disk costs the next start time, nothing else
            log.warning("could not write the corpus cache %s: %s", path, exc)
            return
        self._drop_stale(keep=path)

    def _drop_stale(self, keep: Path) -> None:
        cutoff = time.time() - STALE_S
        for other in self.directory.glob(f"{_PREFIX}*.json.gz"):
            with contextlib.suppress(OSError):  # another process may be dropping it too
                if other != keep and other.stat().st_mtime < cutoff:
                    other.unlink()


def _entry(item: Prepared) -> dict[str, Any]:
    c = item.chunk
    return {
        "doc_id": c.doc_id,
        "title": c.title,
        "location": c.location,
        "text": c.text,
        "index": c.index,
        "heading": c.heading,
        "lead": c.lead,
        "indices": item.sparse.indices,
        "values": item.sparse.values,
        "dense": item.dense,
    }


def _entries(raw: object, dimension: int | None) -> list[Prepared]:
    if not isinstance(raw, list) or not raw:
        raise ValueError("no entries")
    out: list[Prepared] = []
    for e in raw:
        text_fields = [e["doc_id"], e["title"], e["location"], e["text"], e["heading"], e["lead"]]
        if not all(isinstance(v, str) for v in text_fields) or type(e["index"]) is not int:
            raise ValueError("an entry's chunk fields are malformed")
        indices, values = e["indices"], e["values"]
        if not (isinstance(indices, list) and isinstance(values, list) and len(indices) == len(values)):
            raise ValueError("an entry's sparse vector is malformed")
        if not all(type(i) is int and 0 <= i < 2**32 for i in indices) or indices != sorted(set(indices)):
            raise ValueError("an entry's term ids are not ascending unique 32-bit integers")
        if not all(isinstance(v, float) and math.isfinite(v) for v in values):
            raise ValueError("an entry's term weights are not finite numbers")
        dense = e["dense"]
        if dimension is None:
            if dense is not None:
                raise ValueError("a dense vector in a cache of a sparse index")
        elif not (
            isinstance(dense, list)
            and len(dense) == dimension
            and all(isinstance(v, float) and math.isfinite(v) for v in dense)
        ):
            raise ValueError(f"an entry's dense vector is not {dimension} finite numbers")
        chunk = Chunk(e["doc_id"], e["title"], e["location"], e["text"], e["index"], e["heading"], e["lead"])
        out.append(Prepared(chunk, SparseTerms(indices, values), dense))
    return out


def prepared_corpus(index: SourceIndex, documents: Sequence[Document], cache: CorpusCache | None) -> list[Prepared]:
    """The corpus chunked and embedded as `index` would store it: from the cache when it holds them."""
    key = cache_key(documents, index) if cache is not None else None
    if cache is not None and key is not None:
        cached = cache.load(key)
        if cached is not None:
            return cached
    prepared = index.prepare(chunk for document in documents for chunk in chunk_document(document))
    if cache is not None and key is not None:
        cache.save(key, prepared)
    return prepared


def seed_sample_corpus(
    index: SourceIndex, cache: CorpusCache | None, documents: Sequence[Document] | None = None
) -> int:
    """Index the sample corpus for every tenant unless all of it is there; the chunks written.

    A start killed part-way leaves some chunks: the next one writes them all again (the point ids
    are deterministic, so that overwrites) rather than keep a partial corpus for good.
    """
    prepared = prepared_corpus(index, sample_corpus() if documents is None else documents, cache)
    if index.count(PUBLIC_TENANT) >= len(prepared):
        return 0
    with index.bulk_writes():
        return index.add_prepared(prepared, PUBLIC_TENANT)
