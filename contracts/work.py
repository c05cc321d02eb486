"""Typed inputs and outputs of each task kind (the body of task dispatched / succeeded)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.report import Artifact, OutlineSection, ReportLength, TargetWords, Tone


class PlanInput(Contract):
    question: str
    depth: int = Field(ge=1, le=3)
    outline: list[OutlineSection] = Field(default_factory=list, description="the report's sections the plan covers")
    tone: Tone = "neutral"


class PlanOutput(Contract):
    sub_questions: list[str] = Field(min_length=1)


SourceKind = Literal["corpus", "datasets", "web"]
"""Where a search looks: the shared sample corpus, the tenant's uploaded documents, the live web."""


class SearchInput(Contract):
    question: str
    sub_question: str
    limit: int = Field(ge=1, le=100)
    sources: list[SourceKind] | None = Field(
        default=None, min_length=1, description="where to search; unset: the corpus and the tenant's datasets"
    )
    datasets: list[str] | None = Field(
        default=None,
        min_length=1,
        description="ids of the tenant's datasets to read; unset: all of the tenant's documents",
    )


class Passage(Contract):
    """A retrieved chunk of a source: what a citation points at."""

    source_id: str
    title: str
    location: str = Field(description="where in the source: section heading, chunk index")
    text: str
    score: float = 0.0


class WebCandidate(Contract):
    """A page a web search API offered; it is fetched only once policy allows `fetch_url` for its host."""

    url: str = Field(max_length=2048)
    title: str = Field(default="", max_length=1000)


class SearchOutput(Contract):
    sub_question: str
    passages: list[Passage]
    candidates: list[WebCandidate] = Field(
        default_factory=list, description="web pages to fetch for this sub-question (its `fetch` tasks)"
    )


class PagesWanted(Contract):
    """Which of a fetch batch's pages one sub-question's search offered, and how to rank their passages."""

    sub_question: str
    query: str = Field(max_length=20_000)
    urls: list[str] = Field(min_length=1, max_length=100)
    limit: int = Field(ge=1, le=100)


class FetchInput(Contract):
    """Pages on one host, fetched under one `fetch_url` decision about that host."""

    url: str = Field(max_length=2048, description="the batch's first page: the URL policy decides on")
    urls: list[str] = Field(min_length=1, max_length=100, description="every page of the batch, all on url's host")
    wanted: list[PagesWanted] = Field(min_length=1)


ALL_DATASETS = "all"
"""`ReadInput.dataset` for every dataset of the tenant (dataset ids are UUIDs, so none is called this)."""


class ReadInput(Contract):
    """A search of one of the tenant's datasets for every sub-question, under one `read_dataset` decision."""

    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description=f"a dataset id, or {ALL_DATASETS!r}")
    query: str = Field(max_length=2000, description="the run's question (policy sees it), added to each sub-question")
    limit: int = Field(ge=1, le=100, description="passages per sub-question")
    sub_questions: list[str] = Field(min_length=1, max_length=50)


class ReadOutput(Contract):
    """The dataset's passages per sub-question."""

    findings: list[SearchOutput]


class FetchOutput(Contract):
    """The fetched pages' passages, ranked per sub-question that offered them."""

    findings: list[SearchOutput]


class SynthesiseInput(Contract):
    question: str
    sub_questions: list[str]
    findings: list[SearchOutput]
    max_sources: int = Field(ge=1)
    length: ReportLength = "standard"
    target_words: TargetWords | None = Field(default=None, description="words of findings; overrides `length`")
    outline: list[OutlineSection] = Field(
        default_factory=list,
        description="headings to arrange the findings under, in order; empty: one per sub-question",
    )
    tone: Tone = Field(default="neutral", description="how the draft is framed: neutral, executive, technical")


# A claim's text may open on the API its quote describes, as a label: "`math.fsum()`: Return ...".
# The analyst writes and checks it; a report shows the name as code and the quote as text.
CLAIM_LABEL = re.compile(
    r"^`(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?P<call>\(\))?`:\s+(?P<quote>\S.*)$", re.S
)


class Claim(Contract):
    text: str
    citations: list[int] = Field(min_length=1, description="numbers into the draft's sources")


class Table(Contract):
    """Tabular findings: a header row and rows of plain-text cells (ragged rows are padded)."""

    header: list[str] = Field(min_length=1)
    rows: list[list[str]] = Field(default_factory=list)
    caption: str = ""
    citations: list[int] = Field(default_factory=list, description="numbers into the draft's sources")


class CodeBlock(Contract):
    """Code quoted verbatim, whitespace and all."""

    code: str
    language: str = Field(default="", description="e.g. python, sql; empty when unknown")
    citations: list[int] = Field(default_factory=list, description="numbers into the draft's sources")


class Section(Contract):
    heading: str
    claims: list[Claim]
    tables: list[Table] = Field(default_factory=list, description="shown after the claims")
    code: list[CodeBlock] = Field(default_factory=list, description="shown after the tables")


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
    citation_check: VerifyOutput | None = Field(
        default=None, description="the draft as written checked against its passages; unsupported claims were cut"
    )
    off_question: int | None = Field(
        default=None,
        ge=0,
        description="claims dropped for not answering their sub-question, backed or not; unset: not checked",
    )


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


class UnsupportedClaim(Contract):
    """A claim that a source it cites does not back (neither quotes nor lexically entails it)."""

    where: str = Field(description="summary or section, and the claim's place in it")
    text: str
    citations: list[int] = Field(description="the cited sources that do not back it")
    score: float = Field(ge=0, le=1, description="best entailment score over the sources it cites")


class VerifyOutput(Contract):
    checked: int = Field(ge=0, description="claims checked against their cited passages")
    supported: int = Field(ge=0)
    support_rate: float = Field(ge=0, le=1)
    problems: list[str] = Field(default_factory=list)
    unsupported: list[UnsupportedClaim] = Field(default_factory=list)


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


class SearchTally(Contract):
    """What one sub-question's search returned."""

    sub_question: str
    passages: int = Field(ge=0)
    sources: int = Field(ge=0, description="distinct documents among the passages")


class ReportMethods(Contract):
    """How a run reached its report, as its log tells it: the report's methods section."""

    searches: list[SearchTally] = Field(default_factory=list)
    searched: list[str] = Field(
        default_factory=list, description="where the searches looked (corpus, datasets, web); empty: the default"
    )
    passages_retrieved: int = Field(default=0, ge=0)
    sources_retrieved: int = Field(default=0, ge=0, description="distinct documents over all searches")
    passages_kept: int | None = Field(default=None, ge=0, description="after duplicates were merged")
    claims_checked: int | None = Field(default=None, ge=0)
    claims_supported: int | None = Field(default=None, ge=0)
    support_rate: float | None = Field(
        default=None, ge=0, le=1, description="of the draft as written, before unsupported claims were cut"
    )
    claims_off_question: int | None = Field(
        default=None, ge=0, description="claims dropped for not answering their sub-question; unset: not reported"
    )
    credits_reserved: int | None = Field(default=None, ge=0)
    plan: str | None = None
    usage_records: int = Field(default=0, ge=0, description="usage events metered for the run so far")
    template_id: str | None = Field(default=None, description="the research template the run used")
    template_version: int | None = Field(default=None, ge=1)
    template_name: str | None = None
    tone: Tone = "neutral"


class ReportInput(Contract):
    run_id: str
    draft: Draft
    changes: Changes | None = None
    pii_policy: Literal["redact", "block"] = "redact"
    length: ReportLength = "standard"
    target_words: TargetWords | None = None
    methods: ReportMethods | None = None


class ReportOutput(Contract):
    title: str
    markdown: Artifact
    pdf: Artifact
    docx: Artifact | None = None
    pii_redacted: dict[str, int] = Field(default_factory=dict, description="redactions by kind")
