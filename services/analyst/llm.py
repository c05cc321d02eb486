"""A small client of OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp, Ollama, LiteLLM)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Connection failures and timeouts the next attempt may well not meet. Protocol errors on our side
# (an unsupported scheme, a malformed request) would fail the same way again, so they are not here.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class LlmError(Exception):
    """The model could not be asked, or its response is unusable; `status` is the HTTP status if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    model: str


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` counts the first request too."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A provider asking for minutes would hold the task past its ack wait; cap what we honour.
    max_retry_after_s: float = 20.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """Exponential delay before retry number `retry` (1-based), half of it jittered."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        # Jitter keeps replicas that failed together from retrying in lockstep.
        return ceiling / 2 + rng() * ceiling / 2


class ChatClient:
    """POSTs to `{base_url}/chat/completions`, retrying 429, 5xx and connection failures."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._timeout = httpx.Timeout(timeout_s)
        self._retry = retry or RetryPolicy()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # A client handed in belongs to the caller, who closes it.
        self._owned = http is None
        self._http = http or httpx.AsyncClient(transport=transport, timeout=self._timeout)
        self._sleep = sleep
        self._rng = rng

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float = 0.2,
        response_format_json: bool = False,
    ) -> Completion:
        """One chat completion; raises `LlmError` when it fails for good or its answer is unusable."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if response_format_json:
            body["response_format"] = {"type": "json_object"}
        return _parse(await self._post(body), self.model)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        attempts = max(1, self._retry.attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.post(self.url, json=body, headers=self._headers, timeout=self._timeout)
            except _TRANSIENT as exc:
                failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
                if attempt == attempts:
                    raise LlmError(f"{self.url} unreachable after {attempts} attempts: {failure}") from exc
                delay = self._retry.backoff(attempt, self._rng)
            else:
                status = response.status_code
                if status < 400:
                    return response
                failure = f"HTTP {status}: {_error_message(response)}"
                if not _retryable(status):
                    raise LlmError(failure, status=status)
                if attempt == attempts:
                    raise LlmError(f"{failure} (after {attempts} attempts)", status=status)
                asked = _retry_after(response, self._retry.max_retry_after_s)
                delay = self._retry.backoff(attempt, self._rng) if asked is None else asked
            log.warning(
                "chat completion attempt %d/%d failed (%s); retrying in %.2fs", attempt, attempts, failure, delay
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response, cap: float) -> float | None:
    """The wait the server asked for, in seconds and at most `cap`; None when it asked nothing usable."""
    millis = response.headers.get("retry-after-ms")  # OpenAI's finer-grained variant
    value = response.headers.get("retry-after")
    seconds: float | None = None
    try:
        if millis is not None:
            seconds = float(millis) / 1000
        elif value is not None:
            seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is None and value:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if seconds is None or seconds != seconds:  # absent, or NaN
        return None
    return min(max(seconds, 0.0), cap)


def _error_message(response: httpx.Response) -> str:
    """The message of an error body in the shapes servers use, else the start of the raw text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for candidate in (error, data.get("message"), data.get("detail")):
            if isinstance(candidate, str):
                return candidate
    return response.text[:300] or response.reason_phrase


def _parse(response: httpx.Response, requested_model: str) -> Completion:
    try:
        data = response.json()
    except ValueError as exc:
        raise LlmError(f"malformed response: not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise LlmError("malformed response: not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LlmError("malformed response: no choices")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise LlmError("malformed response: choices[0].message.content is missing")
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    if not usage:
        # Billing would see a free call; say so rather than guess a token count.
        log.warning("chat completion without usage: its tokens are reported as 0")
    model = data.get("model")
    return Completion(
        text=content,
        tokens_in=_count(usage.get("prompt_tokens")),
        tokens_out=_count(usage.get("completion_tokens")),
        model=model if isinstance(model, str) and model else requested_model,
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
