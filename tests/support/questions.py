"""Follow-up questions on the orchestrator in memory: a completed run to ask about, and the
events that drive a question."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.credits import CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.question import QuestionAsked, QuestionAskedPayload
from contracts.task import TaskFailed, TaskSucceeded
from contracts.tool import ToolDecided
from contracts.work import Passage
from services.orchestrator.application import Orchestrator
from services.orchestrator.questions.domain import Question
from tests.support.orchestrator import POPO, started, task_failed, task_succeeded, tool_decision, work

TENANT = "tenant-a"


@pytest.fixture
def app() -> Orchestrator:
    return Orchestrator(env=POPO)


def completed_run(app: Orchestrator) -> str:
    run_id = started(app)
    work(app, run_id)
    assert app.get_run(run_id).state == "completed"
    return run_id


def asked(
    run_id: str, scope: str = "run", tenant_id: str = TENANT, text: str = "How does it tear down?"
) -> QuestionAsked:
    question_id = new_id()
    return QuestionAsked.create(
        QuestionAskedPayload(question_id=question_id, run_id=run_id, text=text, scope=scope),
        tenant_id=tenant_id,
        run_id=question_id,
        actor=Actor(user_id="u2", roles=["member"]),
    )


def held(ev: QuestionAsked, amount: int = 20) -> CreditsReserved:
    """Billing's hold of the question's credits, as it publishes it: no run id, the question named."""
    payload = CreditsReservedPayload(
        amount=amount, balance=100, question_id=ev.payload.question_id, about_run_id=ev.payload.run_id
    )
    return CreditsReserved.create(payload, tenant_id=ev.tenant_id)


def ask(app: Orchestrator, ev: QuestionAsked) -> None:
    """Ask, and let billing hold the credits (the question starts on the hold)."""
    app.ask_question(ev)
    app.admit_question(held(ev))


def decided(q: Question, task_id: str, decision: str = "allow") -> ToolDecided:
    payload = tool_decision(task_id, q.tasks[task_id].tool, decision)
    return ToolDecided.create(payload, tenant_id=q.tenant_id, run_id=q.question_id)


def succeeded(q: Question, task_id: str, output: dict[str, Any]) -> TaskSucceeded:
    return task_succeeded(q, q.question_id, task_id, output)


def failed(q: Question, task_id: str, retryable: bool = True) -> TaskFailed:
    return task_failed(q, q.question_id, task_id, retryable)


MEMORY = Passage(
    source_id="run:0190a1b2-0000-7000-8000-000000000001:0",
    title="Context managers — Summary",
    location="Summary",
    text="Question: what is a context manager\n\nA context manager sets up and tears down resources. [1]\n\n"
    "Sources:\n[1] Doc, §1 (doc1)",
)
