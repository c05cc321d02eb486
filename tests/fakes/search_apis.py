"""Local web search APIs speaking the real protocols: SearXNG's JSON API, Tavily and Brave Search.

They search a small index of pages (url, title, text) by word overlap, so what they return
follows from the query, and each can be told to fail its next requests (429 with Retry-After,
or 503) to exercise the client's retries. Every request is recorded.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TAVILY_KEY = "tvly-quarry-fake"
BRAVE_KEY = "BSA-quarry-fake"
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "do",
        "does",
        "how",
        "in",
        "is",
        "it",
        "of",
        "on",
        "the",
        "to",
        "what",
        "why",
        "which",
        "who",
        "with",
    ]
)


@dataclass(frozen=True)
class IndexedPage:
    url: str
    title: str
    text: str


@dataclass
class SearchEngine:
    """The index the three APIs share, the failures they are told to give, and what they were asked."""

    pages: list[IndexedPage] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rank(self, query: str) -> list[tuple[IndexedPage, float]]:
        words = {w for w in _WORD.findall(query.lower()) if w not in _STOP}
        scored = []
        for page in self.pages:
            have = set(_WORD.findall(f"{page.title} {page.text}".lower()))
            overlap = len(words & have)
            if overlap:
                scored.append((page, overlap / max(1, len(words))))
        return sorted(scored, key=lambda pair: -pair[1])

    def record(self, api: str, params: dict[str, Any]) -> int | None:
        """Note the request; the status to fail it with, if a failure is queued."""
        with self._lock:
            self.requests.append((api, params))
            return self.failures.pop(0) if self.failures else None

    def asked(self, api: str) -> list[dict[str, Any]]:
        with self._lock:
            return [params for name, params in self.requests if name == api]


def _failure(status: int, body: dict[str, Any]) -> JSONResponse:
    headers = {"Retry-After": "0"} if status == 429 else {}
    return JSONResponse(body, status_code=status, headers=headers)


def searxng_app(engine: SearchEngine) -> FastAPI:
    """GET /search?q=...&format=json as SearXNG answers it (403 unless the json format is asked for)."""
    app = FastAPI()

    @app.get("/search")
    async def search(request: Request) -> Response:
        params = dict(request.query_params)
        failed = engine.record("searxng", params)
        if params.get("format") != "json":
            return Response("Forbidden", status_code=403)  # the format is not enabled in settings.yml
        if failed:
            return Response("Too Many Requests" if failed == 429 else "Internal Server Error", status_code=failed)
        query = params.get("q", "")
        results = [
            {
                "url": page.url,
                "title": page.title,
                "content": page.text[:200],
                "engine": "duckduckgo",
                "engines": ["duckduckgo", "bing"],
                "positions": [n + 1],
                "score": round(score * 2, 4),
                "category": "general",
                "parsed_url": list(urlsplit(page.url)),
                "template": "default.html",
                "publishedDate": None,
                "thumbnail": "",
            }
            for n, (page, score) in enumerate(engine.rank(query))
        ]
        return JSONResponse(
            {
                "query": query,
                "number_of_results": len(results),
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        )

    return app


def tavily_app(engine: SearchEngine) -> FastAPI:
    """POST /search with `Authorization: Bearer tvly-...` (or the older `api_key` in the body)."""
    app = FastAPI()

    @app.post("/search")
    async def search(request: Request) -> JSONResponse:
        started = time.monotonic()
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": {"error": "Invalid JSON body."}}, status_code=400)
        failed = engine.record("tavily", {**body, "authorization": request.headers.get("authorization")})
        key = request.headers.get("authorization", "").removeprefix("Bearer ") or body.get("api_key")
        if key != TAVILY_KEY:
            return JSONResponse({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status_code=401)
        if failed:
            return _failure(failed, {"detail": {"error": "Rate limit exceeded." if failed == 429 else "Server error."}})
        query = body.get("query")
        max_results = body.get("max_results", 5)
        if not isinstance(query, str) or not query.strip():
            return JSONResponse({"detail": {"error": "Query is missing."}}, status_code=400)
        if not isinstance(max_results, int) or not 0 <= max_results <= 20:
            return JSONResponse({"detail": {"error": "max_results must be between 0 and 20."}}, status_code=400)
        results = [
            {"url": p.url, "title": p.title, "content": p.text[:300], "score": round(s, 4), "raw_content": None}
            for p, s in engine.rank(query)[:max_results]
        ]
        return JSONResponse(
            {
                "query": query,
                "follow_up_questions": None,
                "answer": None,
                "images": [],
                "results": results,
                "response_time": round(time.monotonic() - started, 3),
                "request_id": str(uuid.uuid4()),
            }
        )

    return app


def brave_app(engine: SearchEngine) -> FastAPI:
    """GET /res/v1/web/search with `X-Subscription-Token`, answering `web.results` with <strong> in descriptions."""
    app = FastAPI()

    def error(status: int, code: str, detail: str) -> JSONResponse:
        body = {"type": "ErrorResponse", "error": {"id": str(uuid.uuid4()), "status": status, "code": code, "detail": detail, "meta": {}}, "time": int(time.time())}  # fmt: skip
        return _failure(status, body)

    @app.get("/res/v1/web/search")
    async def search(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        failed = engine.record("brave", params)
        if request.headers.get("x-subscription-token") != BRAVE_KEY:
            return error(401, "SUBSCRIPTION_TOKEN_INVALID", "The provided subscription token is invalid.")
        if failed:
            return error(failed, "RATE_LIMITED" if failed == 429 else "INTERNAL", "Try again later.")
        query = params.get("q", "")
        if not query:
            return error(422, "VALIDATION", "Unable to validate request parameter(s)")
        count = int(params.get("count", 20))
        words = [w for w in _WORD.findall(query.lower()) if w not in _STOP]
        results = []
        for page, _ in engine.rank(query)[:count]:
            description = page.text[:200]
            for word in words:
                description = re.sub(rf"\b({word})\b", r"<strong>\1</strong>", description, flags=re.IGNORECASE)
            results.append(
                {
                    "type": "search_result",
                    "title": page.title,
                    "url": page.url,
                    "description": description,
                    "is_source_local": False,
                    "is_source_both": False,
                    "language": "en",
                    "family_friendly": True,
                    "meta_url": {
                        "scheme": "http",
                        "netloc": urlsplit(page.url).netloc,
                        "path": urlsplit(page.url).path,
                    },
                }
            )
        return JSONResponse(
            {
                "type": "search",
                "query": {"original": query, "more_results_available": False},
                "mixed": {
                    "type": "mixed",
                    "main": [{"type": "web", "index": i, "all": False} for i in range(len(results))],
                },
                "web": {"type": "search", "results": results, "family_friendly": True},
            }
        )

    return app
