"""JSON over HTTP for the search APIs: timeouts, and retries of 429 / 5xx / network faults with
backoff (quarry_runtime.http)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from quarry_runtime.http import HttpFailure, RetryPolicy, send_with_retries
from services.retriever.domain.errors import SearchError

__all__ = ["JsonApi", "RetryPolicy"]

Sleep = Callable[[float], Awaitable[None]]


class JsonApi:
    """One search API's HTTP client. A client handed in belongs to the caller, who closes it."""

    def __init__(
        self,
        name: str,
        *,
        timeout_s: float = 15.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        user_agent: str = "QuarryBot/1.0",
    ) -> None:
        self.name = name
        self._retry = retry or RetryPolicy()
        self._owned = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), headers={"User-Agent": user_agent})
        self._sleep = sleep
        self._rng = rng

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of a successful response; `SearchError` when it fails for good."""
        try:
            response = await send_with_retries(
                lambda: self._http.request(method, url, params=params, json=json, headers=headers),
                name=self.name,
                policy=self._retry,
                sleep=self._sleep,
                rng=self._rng,
            )
        except HttpFailure as exc:
            raise SearchError(str(exc), retryable=exc.retryable) from exc
        return _json(self.name, response)


def _json(name: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise SearchError(f"{name} answered with something other than JSON: {response.text[:200]!r}") from exc
