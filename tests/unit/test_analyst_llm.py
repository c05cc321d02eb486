"""The analyst's chat client against a mocked transport: the protocol, retries, errors and usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from services.analyst.llm import ChatClient, LlmError, RetryPolicy
from tests.support.chat import BASE, MESSAGES, Recorder, completion

# --- the client -------------------------------------------------------------------------------------


async def test_complete_posts_the_protocol_and_reads_text_and_usage() -> None:
    rec = Recorder(completion("hi", tokens_in=42, tokens_out=3))
    client = rec.client()
    answer = await client.complete(MESSAGES, temperature=0.0, response_format_json=True)
    await client.aclose()
    assert (answer.text, answer.tokens_in, answer.tokens_out, answer.model) == ("hi", 42, 3, "test-model")
    (request,) = rec.requests
    assert str(request.url) == f"{BASE}/chat/completions"
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert rec.bodies()[0] == {
        "model": "test-model",
        "messages": MESSAGES,
        "temperature": 0.0,
        "response_format": {"type": "json_object"},
    }
    assert rec.sleeps == []


async def test_no_key_sends_no_authorization_and_missing_usage_counts_zero() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}
    rec = Recorder(httpx.Response(200, json=body))
    answer = await rec.client(api_key=None).complete(MESSAGES)
    assert "authorization" not in rec.requests[0].headers
    assert "response_format" not in rec.bodies()[0]
    assert (answer.tokens_in, answer.tokens_out, answer.model) == (0, 0, "test-model")


async def test_429_is_retried_with_exponential_jittered_backoff_then_succeeds() -> None:
    busy = httpx.Response(429, json={"error": {"message": "slow down"}})
    rec = Recorder(busy, busy, completion("hi"))
    answer = await rec.client().complete(MESSAGES)
    assert answer.text == "hi"
    assert len(rec.requests) == 3
    assert rec.sleeps == [0.5, 1.0]  # rng pinned to 1.0: the top of each jitter window


def test_backoff_stays_inside_its_jitter_window_and_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=8.0)
    assert policy.backoff(1, lambda: 0.0) == 0.25
    assert policy.backoff(3, lambda: 0.5) == pytest.approx(1.5)
    assert policy.backoff(10, lambda: 1.0) == 8.0


@pytest.mark.parametrize(
    ("headers", "slept"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "3600"}, 20.0),  # honoured, but no longer than the policy allows
        ({"retry-after-ms": "250", "Retry-After": "1"}, 0.25),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, 0.5),  # unusable: ordinary backoff
    ],
)
async def test_retry_after_is_honoured_but_bounded(headers: dict[str, str], slept: float) -> None:
    rec = Recorder(httpx.Response(503, headers=headers, text="overloaded"), completion("hi"))
    await rec.client().complete(MESSAGES)
    assert rec.sleeps == [pytest.approx(slept)]


async def test_retry_after_as_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    rec = Recorder(httpx.Response(429, headers={"Retry-After": when}), completion("hi"))
    await rec.client().complete(MESSAGES)
    assert rec.sleeps == [20.0]


async def test_5xx_gives_up_after_the_bounded_attempts() -> None:
    rec = Recorder(httpx.Response(502, json={"error": {"message": "bad gateway"}}))
    with pytest.raises(LlmError) as caught:
        await rec.client(attempts=3).complete(MESSAGES)
    assert caught.value.status == 502
    assert "bad gateway" in str(caught.value) and "3 attempts" in str(caught.value)
    assert len(rec.requests) == 3
    assert len(rec.sleeps) == 2


async def test_connection_errors_and_timeouts_are_retried() -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), completion("hi"))
    assert (await rec.client().complete(MESSAGES)).text == "hi"
    assert len(rec.requests) == 3

    down = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(LlmError, match="unreachable after 2 attempts: ConnectError: refused") as caught:
        await down.client(attempts=2).complete(MESSAGES)
    assert caught.value.status is None


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"message": "model 'x' does not support json", "type": "invalid_request_error"}}, "json"),
        (401, {"error": "invalid api key"}, "invalid api key"),
        (404, {"detail": "Not Found"}, "Not Found"),
        (422, "plain text problem", "plain text problem"),
    ],
)
async def test_other_4xx_fail_at_once_with_the_status_and_message(status: int, body: Any, message: str) -> None:
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    rec = Recorder(response)
    with pytest.raises(LlmError) as caught:
        await rec.client().complete(MESSAGES)
    assert caught.value.status == status
    assert f"HTTP {status}" in str(caught.value) and message in str(caught.value)
    assert len(rec.requests) == 1
    assert rec.sleeps == []


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"id": "x"}),
        httpx.Response(200, json={"choices": [{"message": {"role": "assistant"}}]}),
        completion(None),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, text="<html>gateway</html>"),
    ],
)
async def test_malformed_responses_are_llm_errors(response: httpx.Response) -> None:
    rec = Recorder(response)
    with pytest.raises(LlmError, match="malformed response"):
        await rec.client().complete(MESSAGES)
    assert len(rec.requests) == 1


async def test_a_client_handed_in_stays_open_after_aclose() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: completion("hi")))
    client = ChatClient(BASE, model="m", http=http)
    await client.aclose()
    assert not http.is_closed and not client.closed
    assert (await client.complete(MESSAGES)).text == "hi"
    await http.aclose()
