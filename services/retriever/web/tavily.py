"""Tavily's search API: `POST /search` with a bearer API key and a JSON body."""

from __future__ import annotations

from typing import Any, Literal

from services.retriever.providers import SearchHit
from services.retriever.web.http import JsonApi
from services.retriever.web.results import scored_hits

TAVILY_URL = "https://api.tavily.com"
TAVILY_MAX_RESULTS = 20


class TavilyProvider:
    name = "tavily"

    def __init__(
        self, base_url: str, api_key: str, api: JsonApi, *, depth: Literal["basic", "advanced"] = "basic"
    ) -> None:
        if not api_key:
            raise ValueError("Tavily needs an API key")
        self.url = base_url.rstrip("/") + "/search"
        self.api = api
        self.depth = depth
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        body = {
            "query": query,
            "topic": "general",
            "search_depth": self.depth,
            "max_results": max(1, min(limit, TAVILY_MAX_RESULTS)),
            "include_answer": False,
            "include_raw_content": False,
            "include_images": False,
        }
        data = await self.api.call("POST", self.url, json=body, headers=self._headers)
        return parse_results(data, limit)


def parse_results(data: Any, limit: int) -> list[SearchHit]:
    """Hits from a Tavily answer, best score first."""
    hits = scored_hits(data, "tavily", lambda _: 0.0)
    hits.sort(key=lambda h: -h.score)  # stable: the API's order breaks ties
    return hits[:limit]
