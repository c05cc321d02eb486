"""One run's events as the gateway records them, for the run inspector: a search retried, a
policy decision each, a synthesis, the facts indexed and the usage metered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.envelope import Actor, Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from contracts.task import (
    TaskDispatched,
    TaskDispatchedPayload,
    TaskFailed,
    TaskFailedPayload,
    TaskSucceeded,
    TaskSucceededPayload,
)
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested, ToolRequestedPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from contracts.work import Claim, Draft, Section, SourceRef
from services.gateway.readmodels.store import GatewayStore

START = datetime(2030, 1, 1, tzinfo=UTC)
DRAFT = Draft(
    title="Generators",
    question="How do generators work?",
    summary=[Claim(text="A generator yields values lazily.", citations=[1])],
    sections=[Section(heading="Protocol", claims=[Claim(text="next() resumes it.", citations=[1])])],
    sources=[SourceRef(number=1, source_id="s1", title="PEP 255", location="", passage="secret passage")],
)


def record_run(store: GatewayStore, tenant_id: str, run_id: str) -> list[Event]:
    """Record a run's events in the gateway's log; returns them (billing reads the same bus)."""
    ids: dict[str, Any] = {"tenant_id": tenant_id, "run_id": run_id, "actor": Actor(user_id="u")}
    search, synth, index = new_id(), new_id(), new_id()
    searched = UsageRecorded.create(
        UsageRecordedPayload(task_id=search, kind="search", tool="web_search", search_calls=3, seconds=1.25), **ids
    )
    # A synthesis that called two models (its endpoint fell back): both records are its usage.
    drafted = [
        UsageRecorded.create(
            UsageRecordedPayload(
                task_id=synth,
                kind="synthesise",
                tool="llm_generate",
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                seconds=seconds,
                model=model,
            ),
            **ids,
        )
        for tokens_in, tokens_out, seconds, model in ((1200, 300, 2.5, "model-a"), (800, 200, 0.0, "model-b"))
    ]
    steps: list[tuple[int, Event]] = [
        (0, RunRequested.create(RunRequestedPayload(question=DRAFT.question, depth=1, max_sources=1), **ids)),
        (
            1,
            TaskDispatched.create(
                TaskDispatchedPayload(task_id=search, kind="search", role="retriever", input={}), **ids
            ),
        ),
        (
            3,
            TaskFailed.create(
                TaskFailedPayload(task_id=search, kind="search", reason="timeout", retryable=True), **ids
            ),
        ),
        (
            4,
            TaskDispatched.create(
                TaskDispatchedPayload(task_id=search, kind="search", role="retriever", attempt=2, input={}), **ids
            ),
        ),
        (
            5,
            ToolRequested.create(
                ToolRequestedPayload(request_id="q1", tool="web_search", task_id=search, step="search"), **ids
            ),
        ),
        (
            5,
            ToolDecided.create(
                ToolDecidedPayload(
                    request_id="q1",
                    task_id=search,
                    tool="web_search",
                    decision="allow",
                    reasons=["within plan"],
                    policy_ids=["p-allow-search"],
                    policy_version="v7",
                    evaluation_ms=0.4,
                ),
                **ids,
            ),
        ),
        (9, searched),
        (
            9,
            TaskSucceeded.create(
                TaskSucceededPayload(
                    task_id=search,
                    kind="search",
                    attempt=2,
                    output={"passages": []},
                    usage_event_ids=[searched.event_id],
                ),
                **ids,
            ),
        ),
        (
            10,
            TaskDispatched.create(
                TaskDispatchedPayload(task_id=synth, kind="synthesise", role="analyst", input={}), **ids
            ),
        ),
        *((12, used) for used in drafted),
        (
            12,
            TaskSucceeded.create(
                TaskSucceededPayload(
                    task_id=synth,
                    kind="synthesise",
                    output={"draft": DRAFT.model_dump(mode="json")},
                    usage_event_ids=[u.event_id for u in drafted],
                ),
                **ids,
            ),
        ),
        (
            13,
            TaskDispatched.create(
                TaskDispatchedPayload(task_id=index, kind="index", role="retriever", input={}), **ids
            ),
        ),
        (14, TaskSucceeded.create(TaskSucceededPayload(task_id=index, kind="index", output={"chunks": 2}), **ids)),
    ]
    for seconds, event in steps:
        assert store.record_run_event(event.model_copy(update={"occurred_at": START + timedelta(seconds=seconds)}))
    return [event for _, event in steps]
