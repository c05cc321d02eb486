"""What the follow-up question routes take and answer."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

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
