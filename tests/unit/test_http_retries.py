"""One retry policy for HTTP calls, the same whether the caller is async or sync."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from quarry_runtime.http import HttpFailure, RetryPolicy, send_with_retries, send_with_retries_sync

POLICY = RetryPolicy(attempts=3, base_delay_s=0.5, max_delay_s=8.0)
REQUEST = httpx.Request("GET", "https://api.example/search")


def answers(*statuses: int, headers: dict[str, str] | None = None) -> Callable[[], httpx.Response]:
    left = list(statuses)

    def send() -> httpx.Response:
        return httpx.Response(left.pop(0), headers=headers, json={"error": "busy"}, request=REQUEST)

    return send


async def both(send: Callable[[], httpx.Response]) -> tuple[object, list[float], object, list[float]]:
    """The outcome (response status or failure) and the sleeps, for the async and the sync helper."""
    async_sleeps: list[float] = []
    sync_sleeps: list[float] = []

    async def sleep(s: float) -> None:
        async_sleeps.append(s)

    async def send_async() -> httpx.Response:
        return send()

    outcomes: list[object] = []
    for call in (
        lambda: send_with_retries(send_async, name="api", policy=POLICY, sleep=sleep, rng=lambda: 1.0),
        lambda: send_with_retries_sync(send, name="api", policy=POLICY, sleep=sync_sleeps.append, rng=lambda: 1.0),
    ):
        try:
            result = call()
            response = await result if not isinstance(result, httpx.Response) else result
            outcomes.append(response.status_code)
        except HttpFailure as failure:
            outcomes.append((str(failure), failure.status, failure.retryable))
    return outcomes[0], async_sleeps, outcomes[1], sync_sleeps


async def test_a_busy_server_is_retried_with_backoff_until_it_answers() -> None:
    seen = await both(answers(503, 429, 200, 503, 429, 200))
    assert seen == (200, [0.5, 1.0], 200, [0.5, 1.0])


async def test_a_retry_after_the_server_asks_for_is_honoured() -> None:
    seen = await both(answers(503, 200, 503, 200, headers={"Retry-After": "2"}))
    assert seen == (200, [2.0], 200, [2.0])


async def test_a_request_the_server_refuses_is_not_retried() -> None:
    failure = ("api answered HTTP 400: busy", 400, False)
    assert await both(answers(400, 400)) == (failure, [], failure, [])


async def test_the_last_failure_says_a_later_attempt_may_succeed() -> None:
    failure = ("api answered HTTP 503: busy (after 3 attempts)", 503, True)
    assert await both(answers(*[503] * 6)) == (failure, [0.5, 1.0], failure, [0.5, 1.0])


def test_a_server_that_never_answers_is_unreachable() -> None:
    def send() -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=REQUEST)

    with pytest.raises(HttpFailure, match="api unreachable after 3 attempts: ConnectError: connection refused") as e:
        send_with_retries_sync(send, name="api", policy=POLICY, sleep=lambda _s: None)
    assert e.value.retryable and e.value.status is None
