"""Live synthesis against a local server speaking the chat-completions protocol on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contracts.report import OutlineSection
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.work import Passage, SearchOutput, SynthesiseInput, SynthesiseOutput
from quarry_runtime.worker import TaskError
from services.analyst.application.live_synthesis import cited_sentences, synthesise_live
from services.analyst.application.tasks import execute
from services.analyst.domain.outline import prompt_guidance
from services.analyst.domain.verify import drop_unsupported
from services.analyst.llm import ChatClient
from tests.fakes.llm import API_KEY, FakeLlm, serve

QUESTION = "How do context managers release resources in Python?"
SUBS = ["What does the with statement call on exit?", "How does contextlib help write context managers?"]
PASSAGES = [
    SearchOutput(
        sub_question=SUBS[0],
        passages=[
            Passage(
                source_id="docs/with-statement",
                title="The with statement",
                location="Semantics",
                text="The with statement calls the exit method of the context manager when the block ends. "
                "The exit method runs even when the block raises an exception. Files are closed this way.",
                score=3.0,
            ),
            Passage(
                source_id="docs/files",
                title="Reading and writing files",
                location="Closing files",
                text="It is good practice to use the with keyword when dealing with file objects. "
                "The file is properly closed after its suite finishes.",
                score=2.0,
            ),
        ],
    ),
    SearchOutput(
        sub_question=SUBS[1],
        passages=[
            Passage(
                source_id="docs/contextlib",
                title="contextlib",
                location="contextmanager",
                text="The contextmanager decorator turns a generator function into a context manager factory. "
                "Code after the yield statement runs as the exit of the context manager.",
                score=2.5,
            ),
        ],
    ),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeLlm, str]]:
    llm = FakeLlm(latency_s=(0.0, 0.01))
    with serve(llm) as url:
        yield llm, url


def _input(**extra: Any) -> SynthesiseInput:
    return SynthesiseInput(question=QUESTION, sub_questions=SUBS, findings=PASSAGES, max_sources=5, **extra)


async def test_the_model_writes_a_cited_draft_and_inventions_are_dropped(fake: tuple[FakeLlm, str]) -> None:
    llm, url = fake
    client = ChatClient(url, model="fake-writer", api_key=API_KEY)
    try:
        out, spent = await synthesise_live(client, _input())
    finally:
        await client.aclose()
    draft = out.draft
    assert [s.heading for s in draft.sections] == SUBS
    assert draft.summary, "the summary is written from the notes"
    numbers = [ref.number for ref in draft.sources]
    assert numbers == list(range(1, len(numbers) + 1)), "sources renumbered in order of first citation"
    passages = {ref.number: ref.passage for ref in draft.sources}
    claims = [*draft.summary, *(c for s in draft.sections for c in s.claims)]
    assert all(set(c.citations) <= set(passages) for c in claims)
    assert not any("cheese" in c.text for c in claims), "a sentence citing a number it was not given is dropped"
    # Every claim the model quoted is backed by its passage: the citation check keeps them all.
    kept, check = drop_unsupported(draft)
    assert check.support_rate == 1.0 and kept == draft
    # One call per sub-question and one for the summary, each once; tokens of every call reported.
    assert llm.synthesis_calls == {
        f"{QUESTION} | {SUBS[0]}": 1,
        f"{QUESTION} | {SUBS[1]}": 1,
        f"{QUESTION} | summary": 1,
    }
    assert len(spent) == 3 and all(c.tokens_in > 0 for c in spent)


async def test_execute_uses_the_model_when_live_and_bills_its_tokens(fake: tuple[FakeLlm, str]) -> None:
    _, url = fake
    payload = TaskDispatchedPayload(task_id="t-1", kind="synthesise", role="analyst", input=_input().model_dump())
    task = TaskDispatched.create(payload, tenant_id="acme", run_id="run-live")
    client = ChatClient(url, model="fake-writer", api_key=API_KEY)
    try:
        result = await execute(task, client)
    finally:
        await client.aclose()
    out = SynthesiseOutput.model_validate(result.output)
    assert out.citation_check is not None and out.citation_check.support_rate == 1.0
    [usage] = result.usage
    assert usage.tool == "llm_generate" and usage.tokens_in > 0 and usage.tokens_out == 3 * 30


def test_markers_after_the_full_stop_belong_to_its_sentence() -> None:
    claims = cited_sentences("Files are closed after the block. [2] The exit method always runs [3]. Short [2].", {2})
    assert [(c.text, c.citations) for c in claims] == [("Files are closed after the block.", [2])]


async def test_an_answer_that_never_cites_is_corrected_once_then_fails_the_task() -> None:
    asked: list[dict[str, Any]] = []

    def reply(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content))
        body = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Context managers are nice."}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4},
            "model": "stubborn",
        }
        return httpx.Response(200, json=body)

    client = ChatClient("http://llm.test/v1", model="stubborn", transport=httpx.MockTransport(reply))
    try:
        with pytest.raises(TaskError, match="no sentence citing"):
            await synthesise_live(client, _input())
    finally:
        await client.aclose()
    # Two sub-questions, each asked twice (the corrective turn names the numbers it may cite).
    assert len(asked) == 4
    assert any("Write the sentences again" in m["messages"][-1]["content"] for m in asked)


async def test_a_draft_its_passages_do_not_back_is_replaced_by_the_extractive_one() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        content = "Context managers were invented on the moon in the year 1850 [1]."
        body = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4},
            "model": "dreamer",
        }
        return httpx.Response(200, json=body)

    payload = TaskDispatchedPayload(task_id="t-2", kind="synthesise", role="analyst", input=_input().model_dump())
    task = TaskDispatched.create(payload, tenant_id="acme", run_id="run-dream")
    client = ChatClient("http://llm.test/v1", model="dreamer", transport=httpx.MockTransport(reply))
    try:
        result = await execute(task, client)
    finally:
        await client.aclose()
    out = SynthesiseOutput.model_validate(result.output)
    assert out.citation_check is not None and out.citation_check.support_rate == 0.0
    claims = [c.text for s in out.draft.sections for c in s.claims]
    assert claims and not any("moon" in c for c in claims)
    kept, check = drop_unsupported(out.draft)
    assert check.support_rate == 1.0 and kept == out.draft


async def test_the_template_outline_and_tone_reach_every_prompt() -> None:
    systems: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        systems.append(messages[0]["content"])
        content = "The with statement calls the exit method of the context manager when the block ends [1]."
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}], "model": "m"}
        return httpx.Response(200, json=body)

    outline = [OutlineSection(heading="Cleanup guarantees", hint="what runs on exit")]
    client = ChatClient("http://llm.test/v1", model="m", transport=httpx.MockTransport(reply))
    try:
        await synthesise_live(client, _input(outline=outline, tone="executive"))
    finally:
        await client.aclose()
    assert len(systems) >= 3  # both notes (one corrected) and the summary
    assert all("- Cleanup guarantees: what runs on exit" in s for s in systems)
    assert all(prompt_guidance(outline, "executive") in s for s in systems)
