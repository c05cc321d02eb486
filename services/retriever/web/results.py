"""The result lists search APIs answer with, read the same way whichever API answered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from services.retriever.domain.errors import SearchError
from services.retriever.providers import SearchHit


def linked(results: list[Any]) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(position, result, url) of each result that is an object with an http(s) `url`; the rest
    are passed over, keeping their positions."""
    for n, result in enumerate(results):
        if not isinstance(result, dict):
            continue
        url = result.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            yield n, result, url


def scored_hits(data: Any, who: str, unscored: Callable[[int], float]) -> list[SearchHit]:
    """Hits from an answer's `results` of `{url, title, content, score}`, in its order; a result
    at position n without a numeric score scores `unscored(n)`."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SearchError(f"{who}: malformed answer, no `results` list")
    hits: list[SearchHit] = []
    for n, result, url in linked(data["results"]):
        score = result.get("score")
        hits.append(
            SearchHit(
                url=url,
                title=str(result.get("title") or url),
                snippet=str(result.get("content") or ""),
                score=float(score) if isinstance(score, int | float) else unscored(n),
            )
        )
    return hits
