"""Typed inputs and outputs of each task kind (the body of task dispatched / succeeded)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.report import Artifact


class PlanInput(Contract):
    question: str
    depth: int = Field(ge=1, le=3)


class PlanOutput(Contract):
    sub_questions: list[str] = Field(min_length=1)


class SearchInput(Contract):
    question: str
    sub_question: str
    limit: int = Field(ge=1, le=100)


class Passage(Contract):
    """A retrieved chunk of a source: what a citation points at."""

    source_id: str
    title: str
    location: str = Field(description="where in the source: section heading, chunk index")
    text: str
    score: float = 0.0


class SearchOutput(Contract):
    sub_question: str
    passages: list[Passage]


class SynthesiseInput(Contract):
    question: str
    sub_questions: list[str]
    findings: list[SearchOutput]
    max_sources: int = Field(ge=1)


class Claim(Contract):
    text: str
    citations: list[int] = Field(min_length=1, description="numbers into the draft's sources")


class Section(Contract):
    heading: str
    claims: list[Claim]


class SourceRef(Contract):
    number: int = Field(ge=1)
    source_id: str
    title: str
    location: str
    passage: str


class Draft(Contract):
    title: str
    question: str
    summary: list[Claim]
    sections: list[Section]
    sources: list[SourceRef]


class SynthesiseOutput(Contract):
    draft: Draft


class CollectInput(Contract):
    question: str
    findings: list[SearchOutput]


class CollectOutput(Contract):
    """The searches' passages merged: one copy of each (source, location), best first per sub-question."""

    findings: list[SearchOutput]
    passages: int = Field(ge=0)
    duplicates_dropped: int = Field(ge=0)
    injections_stripped: int = Field(default=0, ge=0, description="source sentences cut as instructions to the model")


class VerifyInput(Contract):
    draft: Draft


class VerifyOutput(Contract):
    checked: int = Field(ge=0, description="claims checked against their cited passages")
    supported: int = Field(ge=0)
    support_rate: float = Field(ge=0, le=1)
    problems: list[str] = Field(default_factory=list)


class IndexInput(Contract):
    run_id: str
    question: str
    draft: Draft


class IndexOutput(Contract):
    chunks: int = Field(ge=0, description="chunks added to the tenant's memory")


class Changes(Contract):
    """What a monitor's run found that its previous run did not, and what is gone."""

    previous_run_id: str
    new_sources: list[str] = Field(default_factory=list, description="titles, with locations")
    dropped_sources: list[str] = Field(default_factory=list)
    new_findings: list[str] = Field(default_factory=list)
    dropped_findings: list[str] = Field(default_factory=list)


class ReportInput(Contract):
    run_id: str
    draft: Draft
    changes: Changes | None = None
    pii_policy: Literal["redact", "block"] = "redact"


class ReportOutput(Contract):
    title: str
    markdown: Artifact
    pdf: Artifact
    pii_redacted: dict[str, int] = Field(default_factory=dict, description="redactions by kind")
