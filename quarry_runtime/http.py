"""Calling other people's HTTP APIs (search engines, model endpoints): retries with backoff.

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

import httpx

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
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        try:
            outcome: httpx.Response | BaseException = await send()
        except TRANSIENT as exc:
            outcome = exc
        delay = _next_delay(outcome, attempt, attempts, name, policy, rng)
        if isinstance(outcome, httpx.Response) and delay is None:
            return outcome
        await sleep(delay or 0.0)
    raise AssertionError("unreachable: the last attempt returns or raises")


def send_with_retries_sync(
    send: Callable[[], httpx.Response],
    *,
    name: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> httpx.Response:
    """`send_with_retries` for synchronous clients (called from worker threads)."""
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        try:
            outcome: httpx.Response | BaseException = send()
        except TRANSIENT as exc:
            outcome = exc
        delay = _next_delay(outcome, attempt, attempts, name, policy, rng)
        if isinstance(outcome, httpx.Response) and delay is None:
            return outcome
        sleep(delay or 0.0)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _next_delay(
    outcome: httpx.Response | BaseException,
    attempt: int,
    attempts: int,
    name: str,
    policy: RetryPolicy,
    rng: Callable[[], float],
) -> float | None:
    """None to accept `outcome`; else how long to wait before the next attempt. Raises
    `HttpFailure` when there is no next attempt worth making."""
    if isinstance(outcome, BaseException):
        failure = f"{type(outcome).__name__}: {outcome}".rstrip(": ")
        if attempt == attempts:
            raise HttpFailure(
                f"{name} unreachable after {attempts} attempts: {failure}", status=None, retryable=True
            ) from outcome
        delay = policy.backoff(attempt, rng)
    else:
        status = outcome.status_code
        if status < 400:
            return None
        failure = f"{name} answered HTTP {status}: {error_message(outcome)}"
        if not retryable(status):
            raise HttpFailure(failure, status=status, retryable=False)
        if attempt == attempts:
            raise HttpFailure(f"{failure} (after {attempts} attempts)", status=status, retryable=True)
        asked = retry_after(outcome, policy.max_retry_after_s)
        delay = policy.backoff(attempt, rng) if asked is None else asked
    log.warning("%s attempt %d/%d failed (%s); retrying in %.2fs", name, attempt, attempts, failure, delay)
    return delay


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
