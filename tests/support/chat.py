"""An OpenAI-compatible model server as a mocked transport: its answers, and what it was sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from services.analyst.llm import ChatClient, RetryPolicy

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
