"""What the follow-up question routes take and answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from contracts.numbers import Count
from contracts.question import QuestionScope


class QuestionCreate(BaseModel):
    question: str = Field(min_length=3, max_length=2000)
    scope: QuestionScope = Field(
        default="run", description="answer from the run's memory (`run`) or all the tenant's memory (`tenant`)"
    )

    @field_validator("question")
    @classmethod
    def _words(cls, value: str) -> str:
        text = " ".join(value.split())
        if len(text) < 3:
            raise ValueError("the question has no words")
        return text


class QuestionAccepted(BaseModel):
    question_id: str
    run_id: str
    status: str
    links: dict[str, str]


class QuestionPublic(BaseModel):
    """A follow-up question, its status and its answer so far (whole, with citations, once answered)."""

    question_id: str
    run_id: str
    question: str
    scope: str
    status: str
    answer: str
    citations: list[dict[str, Any]] = Field(description="what each `[n]` marker in the answer points at")
    error: str | None
    asked_by: str | None
    created_at: str
    updated_at: str


class QuestionListPublic(BaseModel):
    questions: list[QuestionPublic]
    limit: Count
    offset: Count
