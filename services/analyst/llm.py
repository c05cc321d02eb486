"""A small client of OpenAI-compatible chat completions (OpenAI, vLLM, llama.cpp, Ollama, LiteLLM)."""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.trace import SpanKind

from quarry_runtime.http import HttpFailure, RetryPolicy, send_capped, send_with_retries
from quarry_runtime.spans import QUARRY_VERSION, span
from quarry_security.egress import BlockedAddress
from services.analyst.domain.errors import AnalystError
from services.analyst.meters import ModelMeter

__all__ = ["ChatClient", "Completion", "LlmError", "RetryPolicy"]

log = logging.getLogger(__name__)

AGENT_NAME = "quarry-analyst"  # the agent a model call works for (`gen_ai.agent.name`)

Sleep = Callable[[float], Awaitable[None]]


class LlmError(AnalystError):
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


# A chat completion is a few kilobytes; a body far beyond that is a broken or hostile server.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
DEFAULT_TEMPERATURE = 0.2


class ChatClient:
    """POSTs to `{base_url}/chat/completions`, retrying 429, 5xx and connection failures.

    `timeout_s` bounds each phase of one attempt (connect, each read); `deadline_s` bounds the whole
    call, retries and waits included, so a server that trickles bytes cannot hold a task for ever.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        deadline_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        meter: ModelMeter | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._timeout = httpx.Timeout(timeout_s)
        self.deadline_s = deadline_s if deadline_s is not None else timeout_s * 3
        self.max_response_bytes = max_response_bytes
        # Model endpoints shed load with 429s more than search APIs do: one attempt more.
        self._retry = retry or RetryPolicy(attempts=4)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # A client handed in belongs to the caller, who closes it.
        self._owned = http is None
        self._http = http or httpx.AsyncClient(transport=transport, timeout=self._timeout)
        self._sleep = sleep
        self._rng = rng
        self._meter = meter
        # OpenTelemetry's GenAI conventions for the span of each call (`gen_ai.system` is deprecated:
        # the provider's name replaces it). Every endpoint here speaks OpenAI's API.
        address = httpx.URL(self.url)
        self._call_attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.agent.version": QUARRY_VERSION,
            "server.address": address.host,
            "server.port": address.port or (443 if address.scheme == "https" else 80),
        }

    def with_model(self, model: str) -> ChatClient:
        """The same endpoint asked for `model`: one more view of this client's connections, which
        this one still owns and closes (an agent version naming its model)."""
        if model == self.model:
            return self
        twin = copy.copy(self)
        twin.model = model
        twin._owned = False
        twin._call_attributes = {**self._call_attributes, "gen_ai.request.model": model}
        return twin

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
        temperature: float = DEFAULT_TEMPERATURE,
        response_format_json: bool = False,
    ) -> Completion:
        """One chat completion; raises `LlmError` when it fails for good or its answer is unusable."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature}
        if response_format_json:
            body["response_format"] = {"type": "json_object"}
        started = time.monotonic()
        with span(f"chat {self.model}", self._call_attributes, SpanKind.CLIENT) as call:
            try:
                completion = _parse(await self._post(body), self.model)
            except LlmError as exc:
                if self._meter is not None:
                    self._meter.failed(self.model, time.monotonic() - started)
                call.set_attribute("error.type", str(exc.status) if exc.status is not None else "LlmError")
                raise
            if call.is_recording():
                call.set_attributes(
                    {
                        "gen_ai.request.temperature": temperature,
                        "gen_ai.response.model": completion.model,
                        "gen_ai.usage.input_tokens": completion.tokens_in,
                        "gen_ai.usage.output_tokens": completion.tokens_out,
                    }
                )
        if self._meter is not None:
            # By the model asked for: the name a server answers with is its own, and unbounded.
            self._meter.answered(self.model, time.monotonic() - started, completion.tokens_in, completion.tokens_out)
        return completion

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        async def send() -> httpx.Response:
            request = self._http.build_request(
                "POST", self.url, json=body, headers=self._headers, timeout=self._timeout
            )
            return await send_capped(self._http, request, self.max_response_bytes, name=self.url)

        try:
            async with asyncio.timeout(self.deadline_s):
                return await send_with_retries(
                    send, name=self.url, policy=self._retry, sleep=self._sleep, rng=self._rng
                )
        except TimeoutError as exc:
            raise LlmError(f"{self.url} gave no complete answer within {self.deadline_s:g}s") from exc
        except BlockedAddress as exc:
            raise LlmError(f"{self.url} was not called: {exc}") from exc
        except HttpFailure as exc:
            raise LlmError(str(exc), status=exc.status) from exc


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
