"""Production-sized worker outputs and the events of policy, workers and timers, for the
generated runs of `tests.support.runs_fixture`."""

from __future__ import annotations

import random
from typing import Any

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.report import Artifact
from contracts.task import TaskFailed, TaskFailedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.timer import TimerFired, TimerFiredPayload
from contracts.tool import ToolDecided, ToolDecidedPayload
from contracts.work import (
    Claim,
    CollectOutput,
    Draft,
    IndexOutput,
    Passage,
    PlanOutput,
    ReadOutput,
    ReportOutput,
    SearchOutput,
    Section,
    SourceRef,
    SynthesiseOutput,
    VerifyOutput,
)
from services.orchestrator.runs.domain import Run
from services.orchestrator.runs.workflow import task_input
from services.orchestrator.saga import TaskState

SUB_QUESTIONS = 6
PASSAGES = 5


WORDS = (
    "context",
    "manager",
    "resource",
    "protocol",
    "enter",
    "exit",
    "exception",
    "cleanup",
    "scope",
    "file",
    "lock",
    "socket",
    "transaction",
    "generator",
    "decorator",
    "contextlib",
    "stack",
    "suppress",
    "nested",
    "async",
    "await",
    "cancellation",
    "deterministic",
    "release",
)


def filler_text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    length = 0
    while length < chars:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words).capitalize() + "."


def filler_passages(rng: random.Random) -> list[Passage]:
    return [
        Passage(
            source_id=f"doc{rng.randrange(200)}",
            title=filler_text(rng, 30),
            location=f"§{rng.randrange(1, 20)}",
            text=filler_text(rng, 400),
            score=rng.random(),
        )
        for _ in range(PASSAGES)
    ]


def output_for(rng: random.Random, task: TaskState, run: Run) -> dict[str, Any]:
    if task.kind == "plan":
        return PlanOutput(sub_questions=[filler_text(rng, 60) for _ in range(SUB_QUESTIONS)]).model_dump()
    if task.kind in ("search", "read"):
        questions = [task.input["sub_question"]] if task.kind == "search" else task.input["sub_questions"]
        findings = [SearchOutput(sub_question=q, passages=filler_passages(rng)) for q in questions]
        if task.kind == "read":  # the tenant's datasets, read under read_dataset
            return ReadOutput(findings=findings).model_dump()
        return findings[0].model_dump()
    if task.kind == "collect":
        findings = task_input(run, task)["findings"]
        return CollectOutput(findings=findings, passages=len(findings) * PASSAGES, duplicates_dropped=2).model_dump()
    if task.kind == "synthesise":
        sources = [
            SourceRef(
                number=i, source_id=f"doc{i}", title=filler_text(rng, 30), location="§2", passage=filler_text(rng, 300)
            )
            for i in range(1, run.max_sources + 1)
        ]
        claims = [
            Claim(text=filler_text(rng, 160), citations=[rng.randrange(1, run.max_sources + 1)]) for _ in range(9)
        ]
        draft = Draft(
            title=filler_text(rng, 40),
            question=run.question,
            summary=claims[:3],
            sections=[Section(heading=filler_text(rng, 30), claims=claims[3 + 2 * i : 5 + 2 * i]) for i in range(3)],
            sources=sources,
        )
        return SynthesiseOutput(draft=draft).model_dump()
    if task.kind == "verify":
        return VerifyOutput(checked=9, supported=9, support_rate=1.0).model_dump()
    if task.kind == "index":
        return IndexOutput(chunks=12).model_dump()
    art = Artifact(path=f"/artifacts/{run.run_id}/report.md", sha256="0" * 64, media_type="text/markdown", size=9000)
    pdf = art.model_copy(update={"path": f"/artifacts/{run.run_id}/report.pdf", "media_type": "application/pdf"})
    return ReportOutput(title=filler_text(rng, 40), markdown=art, pdf=pdf).model_dump()


def allowed(run: Run, task: TaskState) -> ToolDecided:
    payload = ToolDecidedPayload(
        request_id=f"{task.task_id}:1",
        task_id=task.task_id,
        tool=task.tool,
        decision="allow",
        reasons=[f"role {task.role} may use {task.tool}"],
        policy_ids=["quarry-default-allow", f"tool-{task.tool}"],
        policy_version="2026-11-01",
        evaluation_ms=0.4,
    )
    return ToolDecided.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)


def finished(rng: random.Random, run: Run, task: TaskState, fault: str | None) -> Event:
    usage = [new_id()]
    if fault == "error":
        failed = TaskFailedPayload(
            task_id=task.task_id,
            kind=task.kind,
            attempt=task.attempt,
            reason="model endpoint answered 503",
            retryable=True,
            usage_event_ids=usage,
        )
        return TaskFailed.create(failed, tenant_id=run.tenant_id, run_id=run.run_id)
    output = output_for(rng, task, run)
    if fault == "invalid":
        # A citation to a source the draft does not list: the output check sends it back.
        output["draft"]["summary"][0]["citations"] = [99]
    succeeded = TaskSucceededPayload(
        task_id=task.task_id,
        kind=task.kind,
        attempt=task.attempt,
        output=output,
        usage_event_ids=usage,
    )
    return TaskSucceeded.create(succeeded, tenant_id=run.tenant_id, run_id=run.run_id)


def timer_fired(run: Run, task: TaskState, purpose: str) -> TimerFired:
    payload = TimerFiredPayload(
        timer_id=new_id(),
        purpose=purpose,
        task_id=task.task_id,
        attempt=run.tasks[task.task_id].attempt,
    )
    return TimerFired.create(payload, tenant_id=run.tenant_id, run_id=run.run_id)
