"""Typed inputs and outputs of each task kind (the body of task dispatched / succeeded)."""

from __future__ import annotations

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


class ReportInput(Contract):
    run_id: str
    draft: Draft


class ReportOutput(Contract):
    title: str
    markdown: Artifact
    pdf: Artifact
