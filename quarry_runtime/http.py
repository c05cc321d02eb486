"""Calling other people's HTTP APIs (search engines, model endpoints): retries with backoff (tenacity).

429, 5xx and connection faults are retried with exponential, half-jittered backoff, honouring
the server's `Retry-After` (or OpenAI's `retry-after-ms`) up to a cap; any other status fails
at once. What finally fails is an `HttpFailure` saying whether a later attempt (a retried task)
may succeed, which each client turns into its own error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
)

log = logging.getLogger(__name__)

# Faults the next attempt may not meet; a malformed request would fail the same way again.
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class HttpFailure(Exception):
    """The call failed for good. `status`: the last HTTP status, None when nothing answered."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` counts the first request too."""

    attempts: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    # A server asking for minutes would hold a task past its ack wait; cap what we honour.
    max_retry_after_s: float = 20.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """Exponential delay before retry number `retry` (1-based), half of it jittered, so
        replicas that failed together do not retry in lockstep."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        return ceiling / 2 + rng() * ceiling / 2


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    name: str,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> httpx.Response:
    """The first response under 400 that `send` gets; `HttpFailure` when retrying cannot help."""

    async def attempt() -> httpx.Response:
        return _accepted(await send(), name)

    return await AsyncRetrying(sleep=sleep, **_retrying(name, policy, rng))(attempt)


def send_with_retries_sync(
    send: Callable[[], httpx.Response],
    *,
    name: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> httpx.Response:
    """`send_with_retries` for synchronous clients (called from worker threads)."""
    return Retrying(sleep=sleep, **_retrying(name, policy, rng))(lambda: _accepted(send(), name))


def _accepted(response: httpx.Response, name: str) -> httpx.Response:
    """`response`, unless it is a failure that no later attempt can change."""
    status = response.status_code
    if status >= 400 and not retryable(status):
        raise HttpFailure(f"{name} answered HTTP {status}: {error_message(response)}", status=status, retryable=False)
    return response


def _retrying(name: str, policy: RetryPolicy, rng: Callable[[], float]) -> dict[str, Any]:
    """tenacity's settings for `policy`, the same for the async and the sync caller."""
    attempts = max(1, policy.attempts)

    def failure(state: RetryCallState) -> str:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            exc = outcome.exception()
            return f"{type(exc).__name__}: {exc}".rstrip(": ")
        response: httpx.Response = outcome.result()
        return f"{name} answered HTTP {response.status_code}: {error_message(response)}"

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        assert outcome is not None
        asked = None if outcome.failed else retry_after(outcome.result(), policy.max_retry_after_s)
        delay = policy.backoff(state.attempt_number, rng) if asked is None else asked
        log.warning(
            "%s attempt %d/%d failed (%s); retrying in %.2fs",
            name,
            state.attempt_number,
            attempts,
            failure(state),
            delay,
        )
        return delay

    def give_up(state: RetryCallState) -> NoReturn:
        outcome = state.outcome
        assert outcome is not None
        if outcome.failed:
            raise HttpFailure(
                f"{name} unreachable after {attempts} attempts: {failure(state)}", status=None, retryable=True
            ) from outcome.exception()
        status = outcome.result().status_code
        raise HttpFailure(f"{failure(state)} (after {attempts} attempts)", status=status, retryable=True)

    return {
        "stop": stop_after_attempt(attempts),
        "wait": wait,
        "retry": retry_if_exception_type(TRANSIENT) | retry_if_result(lambda r: r.status_code >= 400),
        "retry_error_callback": give_up,
    }


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after(response: httpx.Response, cap: float) -> float | None:
    """The wait the server asked for (`retry-after-ms`, or `Retry-After` in seconds or as an HTTP
    date), at most `cap`; None when it asked nothing usable."""
    millis = response.headers.get("retry-after-ms")
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


def error_message(response: httpx.Response) -> str:
    """The message of an error body in the shapes APIs use ({"error": {"message"}}, {"detail"},
    {"error"}, {"message"}), else the start of the raw text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for candidate in (data.get("error"), data.get("detail"), data.get("message")):
            if isinstance(candidate, dict):
                candidate = candidate.get("message") or candidate.get("error") or candidate.get("detail")
            if isinstance(candidate, str) and candidate:
                return candidate
    return response.text[:300] or response.reason_phrase


# Pieces of a body are unpacked at most this many bytes at a time.
PIECE_BYTES = 64 * 1024
# The content codings read (one layer at most); what zlib's wbits reads each as.
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}


async def decoded_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body of a streamed `response`, unpacked, in pieces of at most `PIECE_BYTES`.

    httpx unpacks each piece read from the network whole, and stacks the codings a server names:
    a 64 KiB piece of gzip becomes 64 MiB in memory, two layers of it gigabytes, before any cap
    is checked. Here the raw body is unpacked a bounded amount at a time, and a body in more than
    one layer or in a coding not listed is refused (`httpx.DecodingError`).
    """
    if response.is_stream_consumed:  # built from bytes (fakes, tests): httpx has read and unpacked it
        content = response.content
        for start in range(0, len(content), PIECE_BYTES):
            yield content[start : start + PIECE_BYTES]
        return
    codings = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if len(codings) > 1 or codings[0] not in _CODINGS:
        raise httpx.DecodingError(f"content encoding {', '.join(codings)!r} is not read", request=response.request)
    unpacker = zlib.decompressobj(_CODINGS[codings[0]])
    started = False
    async for packed in response.aiter_raw():
        pending = packed
        while pending and not unpacker.eof:
            try:
                piece = unpacker.decompress(pending, PIECE_BYTES)
            except zlib.error as exc:
                if codings[0] == "deflate" and not started:  # raw deflate, without the zlib wrapper
                    unpacker, started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise httpx.DecodingError(f"the body cannot be unpacked: {exc}", request=response.request) from exc
            started = True
            pending = unpacker.unconsumed_tail
            if piece:
                yield piece


async def read_capped(response: httpx.Response, max_bytes: int, *, name: str) -> bytes:
    """The body of a streamed `response`, unpacked, refused once it passes `max_bytes` (before any
    more of it is read or unpacked), so a hostile or broken server cannot fill our memory."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HttpFailure(f"{name} answered {declared} bytes, more than {max_bytes}", status=None, retryable=False)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in decoded_chunks(response):
            size += len(chunk)
            if size > max_bytes:
                raise HttpFailure(f"{name} answered more than {max_bytes} bytes", status=None, retryable=False)
            chunks.append(chunk)
    except httpx.DecodingError as exc:
        raise HttpFailure(f"{name} answered a body we do not read: {exc}", status=None, retryable=False) from exc
    return b"".join(chunks)


async def send_capped(
    client: httpx.AsyncClient, request: httpx.Request, max_bytes: int, *, name: str
) -> httpx.Response:
    """`client.send(request)` with its body read through `read_capped`: the response comes back
    already read, holding at most `max_bytes`."""
    response = await client.send(request, stream=True)
    try:
        body = await read_capped(response, max_bytes, name=name)
    finally:
        await response.aclose()
    # The body is decoded already: the rebuilt response must not decode it again.
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in ("content-encoding", "content-length")]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=request, extensions=response.extensions
    )
