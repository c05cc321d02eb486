"""The analyst's live path against a mocked transport: retries, errors, usage and plan parsing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskKind
from contracts.work import PlanInput
from quarry_runtime.worker import TaskError
from services.analyst.application.live import BOUNDS, Malformed, parse_sub_questions, plan_live
from services.analyst.application.tasks import execute
from services.analyst.bootstrap import AnalystSettings, build, chat_client, closes_on_stop
from services.analyst.llm import ChatClient, LlmError, RetryPolicy

BASE = "http://llm.test/v1"
PLAN = ["What is JSON?", "How is JSON parsed?", "What are alternatives to JSON?"]

Handler = Callable[[httpx.Request], httpx.Response]


def completion(content: str | None, *, tokens_in: int = 11, tokens_out: int = 7) -> httpx.Response:
    body = {
        "id": "chatcmpl-1",
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }
    return httpx.Response(200, json=body)


def plan_answer(subs: list[str], **tokens: int) -> httpx.Response:
    return completion(json.dumps({"sub_questions": subs}), **tokens)


class Recorder:
    """A MockTransport that answers from a script of responses and keeps the requests and sleeps."""

    def __init__(self, *script: httpx.Response | Exception | Handler) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, *, attempts: int = 4, api_key: str | None = "sk-test") -> ChatClient:
        return ChatClient(
            BASE,
            model="test-model",
            api_key=api_key,
            retry=RetryPolicy(attempts=attempts, base_delay_s=0.5, max_delay_s=8.0, max_retry_after_s=20.0),
            transport=httpx.MockTransport(self),
            sleep=self.sleep,
            rng=lambda: 1.0,
        )

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


MESSAGES = [{"role": "user", "content": "Say hi"}]


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


# --- live planning ----------------------------------------------------------------------------------


def test_parse_strips_fences_prose_bullets_and_duplicates() -> None:
    answer = (
        "Sure! Here is the plan:\n```json\n"
        '{"sub_questions": ["1. What is JSON?", "what is json", "  How is   JSON parsed? ", "", 7, '
        '"- What are alternatives to JSON?", "Who uses JSON?"]}\n```\nHope it helps.'
    )
    assert parse_sub_questions(answer, 2, 3) == PLAN
    assert parse_sub_questions('Plan: {"sub_questions": ["A?", "B?"]} done', 2, 3) == ["A?", "B?"]
    assert parse_sub_questions('["A?", "B?"]', 2, 3) == ["A?", "B?"]


@pytest.mark.parametrize(
    "answer",
    ["no json here", '{"questions": "A? B?"}', '{"sub_questions": ["Only one?"]}', '{"sub_questions": ["A", "a?"]}'],
)
def test_parse_rejects_unusable_answers(answer: str) -> None:
    with pytest.raises(Malformed):
        parse_sub_questions(answer, 2, 3)


async def test_plan_live_asks_for_the_offline_count_and_reports_usage() -> None:
    rec = Recorder(plan_answer([*PLAN, "Extra one?", "Extra two?"], tokens_in=120, tokens_out=40))
    planned, spent = await plan_live(rec.client(), PlanInput(question="  What is   JSON? ", depth=2))
    assert planned.sub_questions == [*PLAN, "Extra one?"]  # capped at the depth's maximum, 4
    assert (spent.tokens_in, spent.tokens_out) == (120, 40)
    body = rec.bodies()[0]
    assert body["response_format"] == {"type": "json_object"}
    assert "What is JSON?" in body["messages"][1]["content"]
    assert "between 3 and 4" in body["messages"][1]["content"]
    assert BOUNDS == {1: (2, 3), 2: (3, 4), 3: (4, 6)}


async def test_malformed_answer_is_corrected_once_and_both_calls_are_billed() -> None:
    rec = Recorder(completion("I think you should research JSON.", tokens_in=100), plan_answer(PLAN, tokens_in=150))
    planned, spent = await plan_live(rec.client(), PlanInput(question="What is JSON?", depth=1))
    assert planned.sub_questions == PLAN
    assert (spent.tokens_in, spent.tokens_out) == (250, 14)
    retry = rec.bodies()[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I think you should research JSON."}
    assert "could not be used" in retry[-1]["content"]


async def test_malformed_answer_twice_is_a_task_error() -> None:
    rec = Recorder(completion('{"sub_questions": []}'))
    with pytest.raises(TaskError, match=r"no usable plan twice.*at least 2"):
        await plan_live(rec.client(), PlanInput(question="What is JSON?", depth=1))
    assert len(rec.requests) == 2  # one corrective retry, no more


async def test_model_failures_and_blank_questions_are_task_errors() -> None:
    rec = Recorder(httpx.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(TaskError, match=r"planning model call failed: .* answered HTTP 401: bad key"):
        await plan_live(rec.client(), PlanInput(question="What is JSON?", depth=1))
    with pytest.raises(TaskError, match="empty"):
        await plan_live(rec.client(), PlanInput(question="   ", depth=1))
    assert len(rec.requests) == 1


def dispatched(kind: TaskKind, inp: dict[str, Any]) -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id="t-1", kind=kind, role="analyst", input=inp)
    return TaskDispatched.create(payload, tenant_id="acme", run_id="run-1")


async def test_execute_reports_live_tokens_and_stays_offline_without_a_client() -> None:
    task = dispatched("plan", {"question": "What is JSON?", "depth": 1})
    rec = Recorder(plan_answer(PLAN, tokens_in=90, tokens_out=30))
    live = await execute(task, rec.client())
    assert live.output == {"sub_questions": PLAN}
    assert [(u.tool, u.tokens_in, u.tokens_out) for u in live.usage] == [("llm_generate", 90, 30)]
    offline = await execute(task)
    assert offline.output["sub_questions"][0] == "What is JSON?"
    assert [(u.tool, u.tokens_in, u.tokens_out) for u in offline.usage] == [("llm_generate", 0, 0)]


# --- settings and wiring ----------------------------------------------------------------------------


def test_settings_default_offline_and_read_explicit_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUARRY_ANALYST_MODE", "QUARRY_LLM_BASE_URL", "QUARRY_LLM_API_KEY", "QUARRY_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODE", "live")  # neither the bare nor the prefixed field name counts
    monkeypatch.setenv("QUARRY_MODE", "live")
    offline = AnalystSettings()
    assert (offline.mode, offline.llm_model, offline.llm_timeout_s) == ("offline", "gpt-4o-mini", 60.0)
    assert chat_client(offline) is None

    monkeypatch.setenv("QUARRY_ANALYST_MODE", "live")
    monkeypatch.setenv("QUARRY_LLM_BASE_URL", "http://127.0.0.1:8080/v1/")
    monkeypatch.setenv("QUARRY_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("QUARRY_LLM_MODEL", "qwen2.5")
    monkeypatch.setenv("QUARRY_LLM_TIMEOUT_S", "5")
    monkeypatch.setenv("QUARRY_LOG_LEVEL", "DEBUG")
    live = AnalystSettings()
    assert (live.mode, live.llm_model, live.llm_timeout_s, live.log_level) == ("live", "qwen2.5", 5.0, "DEBUG")
    assert "sk-secret" not in repr(live)
    client = chat_client(live)
    assert client is not None
    assert (client.url, client.model) == ("http://127.0.0.1:8080/v1/chat/completions", "qwen2.5")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "needs QUARRY_LLM_BASE_URL"),
        ({"llm_base_url": "  "}, "needs QUARRY_LLM_BASE_URL"),
        ({"llm_base_url": "127.0.0.1:8080/v1"}, "must be an http"),
        ({"llm_base_url": "http://h/v1", "llm_model": " "}, "needs QUARRY_LLM_MODEL"),
    ],
)
def test_live_mode_without_a_usable_model_server_is_refused(
    kwargs: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUARRY_LLM_BASE_URL", raising=False)
    with pytest.raises(ValidationError, match=problem):
        AnalystSettings(mode="live", **kwargs)  # type: ignore[arg-type]  # BaseSettings has typed _-options


async def test_live_build_closes_its_client_when_the_service_stops() -> None:
    settings = AnalystSettings(mode="live", llm_base_url="http://127.0.0.1:9/v1")
    service = build(settings)
    # The closer of the clients and the watch of the tenants' endpoints, live or offline: a tenant
    # may bring its own model to an offline service.
    assert len(service.background) == 2
    assert len(build(AnalystSettings()).background) == 2

    client = ChatClient(BASE, model="m", transport=httpx.MockTransport(lambda _: completion("hi")))
    job = asyncio.create_task(closes_on_stop(client)())
    await asyncio.sleep(0)
    assert not client.closed
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    assert client.closed
