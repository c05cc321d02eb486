"""A guardrail tripped: prompt injection in input or sources, PII in a report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts import subjects
from contracts.envelope import Contract, Event


class GuardrailTrippedPayload(Contract):
    guardrail: Literal["prompt_injection", "pii"]
    where: Literal["question", "document", "source", "report"]
    action: Literal["rejected", "stripped", "redacted", "blocked"]
    counts: dict[str, int] = Field(description="findings by kind, e.g. {'email': 2}; never the text itself")
    task_id: str | None = None
    document_id: str | None = None
    question_id: str | None = None  # a follow-up question's trip: its envelope's run_id is the question's


class GuardrailTripped(Event, subject=subjects.GUARDRAIL_TRIPPED, type="guardrail.tripped"):
    payload: GuardrailTrippedPayload
