"""HTTP requests by route template, method and status, with their latency: a pure ASGI middleware.

The route is the template the router matched (`/v1/runs/{run_id}`), read from the scope after the
app has handled the request, never the path a client sent: a path carries run and tenant ids.
A request no route matched counts under `unmatched`. Series are bound once per (method, route,
status), so a request costs two clock reads, one dict lookup, an increment and an observation.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarry_runtime.metrics import OTHER, counter, histogram

HTTP_REQUESTS = counter("quarry_http_requests", "HTTP requests answered", ("method", "route", "status"))
HTTP_REQUEST_SECONDS = histogram(
    "quarry_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer",
    ("method", "route"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_of(scope: Scope) -> str:
    """The template of the route that handled the request, or `unmatched`."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetrics:
    """Counts and times every HTTP request that passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # raised through to the server: it answers 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "")
            count, seconds = self._of(method if method in METHODS else OTHER, route_of(scope), status)
            count.inc()
            seconds.observe(time.perf_counter() - started)

    def _of(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_REQUEST_SECONDS.labels(method, route),
            )
        return series
