"""The analyst's live planning against a mocked transport: parsing, a corrected answer, task
errors, and the settings and wiring of live mode."""

from __future__ import annotations

import asyncio
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
from services.analyst.llm import ChatClient
from tests.support.chat import BASE, PLAN, Recorder, completion, plan_answer

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
