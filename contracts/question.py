"""Follow-up questions on a finished run, answered from the tenant's memory with citations.

A question is driven like a small run, and its saga's correlation id (the envelope's `run_id`)
is the question id; the run it asks about is named in the payloads. Its tool requests, tasks
and usage are the ordinary `tool.*`, `task.*` and `usage.*` events, told apart from a run's by
their task kinds and tools (`is_question_event`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event
from contracts.work import Passage

QuestionScope = Literal["run", "tenant"]
"""What the answer may draw on: the run's own memory, or everything the tenant's runs learned."""

RECALL_TOOL = "recall_memory"
ANSWER_TOOL = "answer_question"
QUESTION_TOOLS = frozenset({RECALL_TOOL, ANSWER_TOOL})
QUESTION_TASK_KINDS = frozenset({"recall", "answer"})
QUESTION_TIMEOUT = "question_task_timeout"
"""The purpose of the durable timer that times out a question's task."""
QUESTION_CREDITS_TIMEOUT = "question_credits_timeout"
"""The purpose of the durable timer that ends a question billing never answered for."""
QUESTION_TIMERS = frozenset({QUESTION_TIMEOUT, QUESTION_CREDITS_TIMEOUT})


class QuestionAskedPayload(Contract):
    question_id: str
    run_id: str = Field(description="the completed run the question follows up")
    text: str = Field(min_length=3, max_length=2000)
    scope: QuestionScope = "run"


class QuestionAsked(Event, subject=subjects.QUESTION_ASKED, type="question.asked"):
    payload: QuestionAskedPayload


class QuestionAnswerPartPayload(Contract):
    question_id: str
    seq: int = Field(ge=0, description="parts are numbered from 0; joined in order they are the answer so far")
    text: str = Field(description="the text this part adds")


class QuestionAnswerPart(Event, subject=subjects.QUESTION_ANSWER_PART, type="question.answer_part"):
    """A piece of the answer as the analyst writes it; the answered event carries the whole."""

    payload: QuestionAnswerPartPayload


class AnswerCitation(Contract):
    """What a `[n]` marker in the answer points at: a chunk of the tenant's memory."""

    number: int = Field(ge=1)
    memory_id: str = Field(description="the memory document the chunk belongs to: `run:<run id>:<part>`")
    run_id: str | None = Field(default=None, description="the run whose findings the chunk holds")
    title: str
    location: str
    passage: str


class QuestionOutcome(Contract):
    """How a question ended: the question, and the run it asked about."""

    question_id: str
    run_id: str


class QuestionAnsweredPayload(QuestionOutcome):
    answer: str
    citations: list[AnswerCitation]
    usage_event_ids: list[str] = Field(default_factory=list)


class QuestionAnswered(Event, subject=subjects.QUESTION_ANSWERED, type="question.answered"):
    payload: QuestionAnsweredPayload


class QuestionFailedPayload(QuestionOutcome):
    reason: str
    usage_event_ids: list[str] = Field(default_factory=list)


class QuestionFailed(Event, subject=subjects.QUESTION_FAILED, type="question.failed"):
    payload: QuestionFailedPayload


# -- the tasks of a question (bodies of task dispatched / succeeded) ----------------------------


class RecallInput(Contract):
    question: str
    run_id: str | None = Field(default=None, description="only this run's memory; unset: the whole tenant's")
    limit: int = Field(default=6, ge=1, le=50)
    fallback: str | None = Field(
        default=None, description="searched when the question alone matches nothing (the run's own question)"
    )


class RecallOutput(Contract):
    passages: list[Passage]


class AnswerInput(Contract):
    question_id: str
    question: str
    passages: list[Passage] = Field(min_length=1)


class AnswerOutput(Contract):
    answer: str = Field(min_length=1)
    citations: list[AnswerCitation]
    parts: int = Field(ge=0, description="answer parts published while it was written")


def is_question_event(event: Event) -> bool:
    """Whether a tool, task, timer, credits or guardrail event belongs to a question's saga rather than a run's."""
    payload = event.payload
    return (
        getattr(payload, "tool", None) in QUESTION_TOOLS
        or getattr(payload, "kind", None) in QUESTION_TASK_KINDS
        or getattr(payload, "purpose", None) in QUESTION_TIMERS
        or (event.type.startswith(("credits.", "guardrail.")) and getattr(payload, "question_id", None) is not None)
    )
