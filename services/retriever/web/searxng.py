"""SearXNG's JSON API: `GET /search?q=...&format=json` (the instance must enable the json format)."""

from __future__ import annotations

from typing import Any

from services.retriever.providers import SearchHit
from services.retriever.web.http import JsonApi
from services.retriever.web.results import scored_hits


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
    return scored_hits(data, "searxng", lambda n: 1.0 / (n + 1))[:limit]
