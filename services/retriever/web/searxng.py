"""SearXNG's JSON API: `GET /search?q=...&format=json` (the instance must enable the json format)."""

from __future__ import annotations

from typing import Any

from services.retriever.domain.errors import SearchError
from services.retriever.providers import SearchHit
from services.retriever.web.http import JsonApi


class SearxngProvider:
    """A SearXNG instance; it returns a page of results (about 20) whatever the limit, so we cut."""

    name = "searxng"

    def __init__(self, base_url: str, api: JsonApi, *, language: str = "all", safesearch: int = 1) -> None:
        self.url = base_url.rstrip("/") + "/search"
        self.api = api
        self.language = language
        self.safesearch = safesearch

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        params: dict[str, str | int] = {
            "q": query,
            "format": "json",
            "categories": "general",
            "language": self.language,
            "safesearch": self.safesearch,
            "pageno": 1,
        }
        data = await self.api.call("GET", self.url, params=params)
        return parse_results(data, limit)


def parse_results(data: Any, limit: int) -> list[SearchHit]:
    """Hits from a SearXNG JSON answer, in its order (already merged and ranked across engines)."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SearchError("searxng: malformed answer, no `results` list")
    hits: list[SearchHit] = []
    for n, result in enumerate(data["results"]):
        if not isinstance(result, dict):
            continue
        url = result.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        score = result.get("score")
        hits.append(
            SearchHit(
                url=url,
                title=str(result.get("title") or url),
                snippet=str(result.get("content") or ""),
                score=float(score) if isinstance(score, int | float) else 1.0 / (n + 1),
            )
        )
        if len(hits) >= limit:
            break
    return hits
