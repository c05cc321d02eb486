"""The analyst's live plan task against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.task import TaskDispatched, TaskDispatchedPayload
from quarry_runtime.natsserver import free_port
from quarry_runtime.worker import TaskError
from services.analyst.application.live import BOUNDS
from services.analyst.application.tasks import execute
from services.analyst.bootstrap import AnalystSettings, chat_client
from services.analyst.llm import ChatClient, RetryPolicy
from tests.fakes.serving import serve_app

KEY = "sk-local-test"
SUBS = [
    "How does the with statement work in Python?",
    "What are context managers?",
    "What are common uses of context managers?",
    "How do context managers handle exceptions?",
]


@dataclass
class FakeModel:
    """What the server answers; tests set it, the server thread reads it."""

    fail_first: int = 0
    answers: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0

    def reset(self, *, fail_first: int = 0, answers: list[str] | None = None) -> None:
        self.fail_first = fail_first
        self.answers = answers or [json.dumps({"sub_questions": SUBS})]
        self.requests.clear()
        self.rejected = 0


def chat_app(model: FakeModel) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            model.rejected += 1
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        body = await request.json()
        model.requests.append(body)
        if len(model.requests) <= model.fail_first:
            return JSONResponse({"error": {"message": "model is loading"}}, status_code=503)
        content = model.answers[min(len(model.requests) - model.fail_first, len(model.answers)) - 1]
        prompt = sum(len(m["content"].split()) for m in body["messages"])
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(model.requests)}",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 25, "total_tokens": prompt + 25},
            }
        )

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeModel]]:
    model = FakeModel()
    with serve_app(chat_app(model), "fake-llm") as url:
        yield f"{url}/v1", model


@pytest.fixture
def fake(server: tuple[str, FakeModel]) -> tuple[str, FakeModel]:
    server[1].reset()
    return server


def plan_task(question: str, depth: int) -> TaskDispatched:
    payload = TaskDispatchedPayload(
        task_id="task-plan-1", kind="plan", role="analyst", input={"question": question, "depth": depth}
    )
    return TaskDispatched.create(payload, tenant_id="acme", run_id="run-1")


def client(base_url: str, *, key: str = KEY, attempts: int = 4) -> ChatClient:
    # Short delays keep the test fast; the policy's shape is what is under test, not its scale.
    retry = RetryPolicy(attempts=attempts, base_delay_s=0.02, max_delay_s=0.1)
    return ChatClient(base_url, model="local-model", api_key=key, timeout_s=5, retry=retry)


async def test_live_plan_survives_503s_and_reports_the_tokens(fake: tuple[str, FakeModel]) -> None:
    base_url, model = fake
    model.reset(fail_first=2)
    llm = client(base_url)
    try:
        result = await execute(plan_task("How does the with statement work in Python?", depth=2), llm)
    finally:
        await llm.aclose()
    assert result.output == {"sub_questions": SUBS}
    assert len(model.requests) == 3  # two 503s retried, then the answer
    (usage,) = result.usage
    sent = model.requests[-1]
    prompt_words = sum(len(m["content"].split()) for m in sent["messages"])
    assert (usage.tool, usage.tokens_in, usage.tokens_out) == ("llm_generate", prompt_words, 25)
    assert sent["model"] == "local-model"
    assert sent["response_format"] == {"type": "json_object"}
    assert f"between {BOUNDS[2][0]} and {BOUNDS[2][1]}" in sent["messages"][-1]["content"]


async def test_settings_from_the_environment_reach_the_server(
    fake: tuple[str, FakeModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, model = fake
    monkeypatch.setenv("QUARRY_ANALYST_MODE", "live")
    monkeypatch.setenv("QUARRY_LLM_BASE_URL", base_url)
    monkeypatch.setenv("QUARRY_LLM_API_KEY", KEY)
    monkeypatch.setenv("QUARRY_LLM_MODEL", "qwen2.5-7b-instruct")
    monkeypatch.setenv("QUARRY_LLM_TIMEOUT_S", "5")
    llm = chat_client(AnalystSettings())
    assert llm is not None
    try:
        result = await execute(plan_task("What are context managers?", depth=1), llm)
    finally:
        await llm.aclose()
    assert result.output == {"sub_questions": SUBS[:3]}  # depth 1 allows at most 3
    assert [r["model"] for r in model.requests] == ["qwen2.5-7b-instruct"]


async def test_malformed_answer_gets_one_corrective_turn_billed_in_full(fake: tuple[str, FakeModel]) -> None:
    base_url, model = fake
    model.reset(answers=["Here are some ideas: context managers, the with statement.", json.dumps(SUBS[:2])])
    llm = client(base_url)
    try:
        result = await execute(plan_task("What are context managers?", depth=1), llm)
    finally:
        await llm.aclose()
    assert result.output == {"sub_questions": SUBS[:2]}
    assert len(model.requests) == 2
    prompts = [sum(len(m["content"].split()) for m in r["messages"]) for r in model.requests]
    assert [(u.tokens_in, u.tokens_out) for u in result.usage] == [(sum(prompts), 50)]


async def test_a_wrong_key_fails_the_task_without_retrying(fake: tuple[str, FakeModel]) -> None:
    base_url, model = fake
    llm = client(base_url, key="sk-wrong")
    try:
        with pytest.raises(TaskError, match="HTTP 401: Incorrect API key provided"):
            await execute(plan_task("What are context managers?", depth=1), llm)
    finally:
        await llm.aclose()
    assert model.rejected == 1


async def test_an_outage_longer_than_the_retries_fails_the_task(fake: tuple[str, FakeModel]) -> None:
    base_url, model = fake
    model.reset(fail_first=100)
    llm = client(base_url, attempts=3)
    try:
        with pytest.raises(TaskError, match=r"HTTP 503: model is loading \(after 3 attempts\)"):
            await execute(plan_task("What are context managers?", depth=1), llm)
    finally:
        await llm.aclose()
    assert len(model.requests) == 3


async def test_nothing_listening_is_retried_then_fails_the_task() -> None:
    llm = client(f"http://127.0.0.1:{free_port()}/v1", attempts=2)
    try:
        with pytest.raises(TaskError, match="unreachable after 2 attempts: ConnectError"):
            await execute(plan_task("What are context managers?", depth=1), llm)
    finally:
        await llm.aclose()
