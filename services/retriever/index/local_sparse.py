"""Sparse search over a local-mode collection, scored as Qdrant's local mode scores it, in numpy.

Local mode (the embedded default) scores a query in Python, point by point: the dot product,
then the filter checked field by field, and again for the IDF corpus. That is most of a
search's CPU, and of a run's. This mirror holds the collection's sparse vectors as an inverted
index and its payloads as columns, so a query costs a few array operations. It gives the same
scores (the same arithmetic in the same order, IDF as local mode computes it), the same
filtering and the same order, but among points of equal score, whose order local mode leaves to
the layout of its arrays (deleted points keep their slots there).

It knows the writes `SourceIndex` makes: an upsert goes in at once; a delete by filter makes it
read the collection again on the next query. A filter it cannot evaluate is `Unsupported`, and
the caller asks the client instead.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

_PAGE = 1024
_Entry = tuple[dict[str, Any], list[int], list[float]]


class Unsupported(Exception):
    """A filter or query this mirror does not evaluate; the client answers it."""


@dataclass
class _Compiled:
    ids: list[models.ExtendedPointId]
    payloads: list[dict[str, Any]]
    has_vector: np.ndarray
    postings: dict[int, tuple[np.ndarray, np.ndarray]]
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def column(self, key: str) -> np.ndarray:
        found = self.columns.get(key)
        if found is None:
            values = [payload.get(key) for payload in self.payloads]
            if any(not isinstance(v, (str, int, type(None))) or isinstance(v, bool) for v in values):
                raise Unsupported(f"payload field {key!r} holds values other than keywords and integers")
            found = np.array(values, dtype=object)
            self.columns[key] = found
        return found


class LocalSparse:
    """The sparse vectors and payloads of one local-mode collection, for queries."""

    def __init__(self, client: QdrantClient, collection: str, vector: str) -> None:
        self._client = client
        self._collection = collection
        self._vector = vector
        self._lock = threading.Lock()
        # id -> (payload, indices, values); a dict keeps the order points were first written
        self._points: dict[models.ExtendedPointId, _Entry | None] | None = None
        self._compiled: _Compiled | None = None

    def upserted(self, points: Sequence[models.PointStruct]) -> None:
        with self._lock:
            if self._points is None:
                return  # read whole on the next query
            for point in points:
                self._points[point.id] = _entry(point.payload, point.vector, self._vector)
            self._compiled = None

    def invalidate(self) -> None:
        with self._lock:
            self._points, self._compiled = None, None

    def query(
        self,
        query: models.SparseVector,
        where: models.Filter | None,
        idf_corpus: models.Filter | None,
        limit: int,
        with_payload: bool | Sequence[str],
    ) -> list[models.ScoredPoint]:
        """What `query_points` with this sparse `query`, filter, IDF corpus and limit returns."""
        compiled = self._current()
        n = len(compiled.ids)
        mask = _mask(compiled, where) & compiled.has_vector
        # The IDF corpus is usually the filter itself (a tenant's chunks, no labels asked for).
        if idf_corpus is None:
            corpus = compiled.has_vector
        elif idf_corpus == where:
            corpus = mask
        else:
            corpus = _mask(compiled, idf_corpus) & compiled.has_vector
        docs = int(np.count_nonzero(corpus))
        scores = np.zeros(n, dtype=np.float64)
        overlap = np.zeros(n, dtype=bool)
        for index, value in sorted(zip(query.indices, query.values, strict=True)):
            posting = compiled.postings.get(index)
            df = 0 if posting is None else int(np.count_nonzero(corpus[posting[0]]))
            weight = value * math.log((docs - df + 0.5) / (df + 0.5) + 1)
            if posting is not None:
                where_, values = posting
                scores[where_] += weight * values
                overlap[where_] = True
        scored = np.where(overlap, scores.astype(np.float32), np.float32("-inf"))
        found: list[models.ScoredPoint] = []
        for i in np.argsort(scored)[::-1]:
            if len(found) >= limit or scored[i] == -np.inf:
                break
            if mask[i]:
                found.append(
                    models.ScoredPoint(
                        id=compiled.ids[i],
                        version=0,
                        score=float(scored[i]),
                        payload=_selected(compiled.payloads[i], with_payload),
                    )
                )
        return found

    def _current(self) -> _Compiled:
        with self._lock:
            if self._points is None:
                self._points = self._read()
            if self._compiled is None:
                self._compiled = _compile(self._points)
            return self._compiled

    def _read(self) -> dict[models.ExtendedPointId, _Entry | None]:
        points: dict[models.ExtendedPointId, _Entry | None] = {}
        offset: models.ExtendedPointId | None = None
        while True:
            page, offset = self._client.scroll(
                self._collection, limit=_PAGE, offset=offset, with_payload=True, with_vectors=[self._vector]
            )
            for point in page:
                points[point.id] = _entry(point.payload, point.vector, self._vector)
            if offset is None:
                return points


def _entry(payload: Mapping[str, Any] | None, vector: Any, name: str) -> _Entry | None:
    """A point's payload and sparse vector; None for a point without one, which local mode leaves
    out of every sparse query and of the IDF corpus."""
    sparse = vector.get(name) if isinstance(vector, dict) else None
    if not isinstance(sparse, models.SparseVector):
        return None
    return {**(payload or {})}, list(sparse.indices), list(sparse.values)


def _compile(
    points: Mapping[models.ExtendedPointId, _Entry | None],
) -> _Compiled:
    ids = list(points)
    payloads = [entry[0] if entry is not None else {} for entry in points.values()]
    has_vector = np.array([entry is not None for entry in points.values()], dtype=bool)
    gathered: dict[int, tuple[list[int], list[float]]] = {}
    for position, entry in enumerate(points.values()):
        if entry is None:
            continue
        for index, value in zip(entry[1], entry[2], strict=True):
            where, values = gathered.setdefault(index, ([], []))
            where.append(position)
            values.append(value)
    postings = {
        index: (np.array(where, dtype=np.int64), np.array(values, dtype=np.float64))
        for index, (where, values) in gathered.items()
    }
    return _Compiled(ids, payloads, has_vector, postings)


def _mask(compiled: _Compiled, where: models.Filter | None) -> np.ndarray:
    n = len(compiled.ids)
    mask = np.ones(n, dtype=bool)
    if where is None:
        return mask
    if where.min_should is not None:
        raise Unsupported("min_should")
    for condition in _listed(where.must):
        mask &= _condition(compiled, condition)
    should = _listed(where.should)
    if should:
        any_of = np.zeros(n, dtype=bool)
        for condition in should:
            any_of |= _condition(compiled, condition)
        mask &= any_of
    for condition in _listed(where.must_not):
        mask &= ~_condition(compiled, condition)
    return mask


def _listed(conditions: Any) -> list[Any]:
    if conditions is None:
        return []
    return list(conditions) if isinstance(conditions, list) else [conditions]


def _condition(compiled: _Compiled, condition: Any) -> np.ndarray:
    if isinstance(condition, models.Filter):
        return _mask(compiled, condition)
    if isinstance(condition, models.HasIdCondition):
        wanted = {str(i) for i in condition.has_id}
        return np.array([str(i) in wanted for i in compiled.ids], dtype=bool)
    if isinstance(condition, models.FieldCondition) and "." not in condition.key and "[" not in condition.key:
        column = compiled.column(condition.key)
        match = condition.match
        others = (condition.range, condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon)
        if any(o is not None for o in (*others, condition.values_count, condition.is_empty, condition.is_null)):
            raise Unsupported("a field condition other than a match")
        if isinstance(match, models.MatchValue):
            # Elementwise ==, which an absent value (None) never passes: the value is never None.
            return np.asarray(column == match.value, dtype=bool)
        if isinstance(match, models.MatchAny):
            accepted = set(match.any)
            return np.array([v is not None and v in accepted for v in column], dtype=bool)
    raise Unsupported(f"condition {type(condition).__name__}")


def _selected(payload: dict[str, Any], with_payload: bool | Sequence[str]) -> dict[str, Any] | None:
    if with_payload is True:
        return dict(payload)
    if with_payload is False:
        return None
    return {key: payload[key] for key in with_payload if key in payload}


_MIRRORS: weakref.WeakKeyDictionary[QdrantClient, dict[str, LocalSparse]] = weakref.WeakKeyDictionary()
_MIRRORS_LOCK = threading.Lock()


def mirror_of(client: QdrantClient, collection: str, vector: str) -> LocalSparse:
    """The one mirror of a client's collection, whichever `SourceIndex` writes to it."""
    with _MIRRORS_LOCK:
        mirrors = _MIRRORS.setdefault(client, {})
        found = mirrors.get(collection)
        if found is None:
            found = mirrors[collection] = LocalSparse(client, collection, vector)
        return found


def sparse_points(
    client: QdrantClient,
    collection: str,
    server: Callable[[], AbstractContextManager[None]],
    mirror: LocalSparse | None,
    using: str,
    query: models.SparseVector,
    where: models.Filter | None,
    params: models.SearchParams | None,
    limit: int,
    with_payload: bool | list[str],
) -> list[models.ScoredPoint]:
    """`query_points` with a sparse query: from the mirror when there is one and it can, else the client."""
    if mirror is not None:
        idf = params.idf if params is not None else None
        corpus = idf.corpus if isinstance(idf, models.IdfCorpusParams) else None
        if idf is None or corpus is not None:
            try:
                with server():
                    return mirror.query(query, where, corpus, limit, with_payload)
            except Unsupported:
                pass
    ask = partial(client.query_points, collection, query=query, using=using, query_filter=where)
    with server():
        return list(ask(search_params=params, limit=limit, with_payload=with_payload).points)
