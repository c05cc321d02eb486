"""Brave's Web Search API: `GET /res/v1/web/search` with an `X-Subscription-Token` header."""

from __future__ import annotations

import html
import re
from typing import Any

from services.retriever.domain.errors import SearchError
from services.retriever.providers import SearchHit
from services.retriever.web.http import JsonApi
from services.retriever.web.results import linked

BRAVE_URL = "https://api.search.brave.com"
BRAVE_MAX_COUNT = 20
_TAG = re.compile(r"<[^>]+>")  # descriptions carry <strong> around the matched words


class BraveProvider:
    name = "brave"

    def __init__(self, base_url: str, api_key: str, api: JsonApi) -> None:
        if not api_key:
            raise ValueError("Brave Search needs an API key")
        self.url = base_url.rstrip("/") + "/res/v1/web/search"
        self.api = api
        self._headers = {"X-Subscription-Token": api_key, "Accept": "application/json"}

    async def search(self, query: str, limit: int) -> list[SearchHit]:
        params: dict[str, str | int] = {
            "q": query,
            "count": max(1, min(limit, BRAVE_MAX_COUNT)),
            "result_filter": "web",
        }
        data = await self.api.call("GET", self.url, params=params, headers=self._headers)
        return parse_results(data, limit)


def parse_results(data: Any, limit: int) -> list[SearchHit]:
    """Hits from a Brave answer's `web.results`, in its order; an answer without web results has none."""
    if not isinstance(data, dict):
        raise SearchError("brave: malformed answer, not a JSON object")
    web = data.get("web")
    results = web.get("results") if isinstance(web, dict) else []
    if not isinstance(results, list):
        raise SearchError("brave: malformed answer, `web.results` is not a list")
    hits: list[SearchHit] = []
    for n, result, url in linked(results):
        hits.append(
            SearchHit(
                url=url,
                title=_plain(result.get("title")) or url,
                snippet=_plain(result.get("description")),
                score=1.0 / (n + 1),
            )
        )
        if len(hits) >= limit:
            break
    return hits


def _plain(value: Any) -> str:
    return html.unescape(_TAG.sub("", value)) if isinstance(value, str) else ""
