"""JSON over HTTP for the search APIs: timeouts, retries of 429 / 5xx / network faults with backoff."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.retriever.providers import SearchError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Faults the next attempt may not meet; a malformed request would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` counts the first request too."""

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A provider asking for minutes would hold the task past its ack wait; cap what we honour.
    max_retry_after_s: float = 20.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """Exponential delay before retry number `retry` (1-based), half of it jittered."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        return ceiling / 2 + rng() * ceiling / 2


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
        attempts = max(1, self._retry.attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(method, url, params=params, json=json, headers=headers)
            except _TRANSIENT as exc:
                failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
                if attempt == attempts:
                    raise SearchError(
                        f"{self.name} unreachable after {attempts} attempts: {failure}", retryable=True
                    ) from exc
                delay = self._retry.backoff(attempt, self._rng)
            else:
                status = response.status_code
                if status < 400:
                    return _json(self.name, response)
                failure = f"{self.name} answered HTTP {status}: {error_message(response)}"
                if not retryable(status):
                    raise SearchError(failure)
                if attempt == attempts:
                    raise SearchError(f"{failure} (after {attempts} attempts)", retryable=True)
                asked = retry_after(response, self._retry.max_retry_after_s)
                delay = self._retry.backoff(attempt, self._rng) if asked is None else asked
            log.warning("%s attempt %d/%d failed (%s); retrying in %.2fs", self.name, attempt, attempts, failure, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after(response: httpx.Response, cap: float) -> float | None:
    """The wait the server asked for (seconds or an HTTP date), at most `cap`; None if it asked nothing usable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def error_message(response: httpx.Response) -> str:
    """The message of an error body in the shapes the APIs use, else the start of the raw text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for candidate in (data.get("detail"), data.get("error"), data.get("message")):
            if isinstance(candidate, dict):
                candidate = candidate.get("error") or candidate.get("detail") or candidate.get("message")
            if isinstance(candidate, str) and candidate:
                return candidate
    return response.text[:300] or response.reason_phrase


def _json(name: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise SearchError(f"{name} answered with something other than JSON: {response.text[:200]!r}") from exc
