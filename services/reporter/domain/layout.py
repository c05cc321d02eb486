"""The order every format lays a report's body out in, decided once: each renderer supplies a
`Layout` that draws the parts, and `lay_out` calls it part by part. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from contracts.work import Changes, Claim, CodeBlock, Draft, ReportMethods, SourceRef, Table
from services.reporter.domain.structure import (
    CHANGES,
    EMPTY_SECTION,
    METHODS,
    SOURCES,
    SUMMARY,
    is_empty,
    section_heading,
)

EXCERPT_CHARS = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderOptions:
    """What every format shows besides the draft."""

    run_id: str
    generated_at: datetime
    # A monitor's run: what changed since the previous run.
    changes: Changes | None = None
    methods: ReportMethods | None = None
    excerpt_chars: int = EXCERPT_CHARS
    # The length the run asked for, as the methods section says it.
    asked: str = "standard"


class Layout(Protocol):
    """Draws one part of the report in one format."""

    def heading(self, text: str) -> None: ...

    def summary(self, claims: list[Claim]) -> None: ...

    def nothing(self, text: str) -> None:
        """Say plainly that a part has nothing in it."""

    def note(self, text: str) -> None: ...

    def changes(self, changes: Changes) -> None:
        """What changed since the previous run, under the heading already written."""

    def claim(self, claim: Claim) -> None: ...

    def table(self, table: Table) -> None: ...

    def code(self, block: CodeBlock) -> None: ...

    def methods(self, methods: ReportMethods, draft: Draft, asked: str) -> None:
        """The methods section, under the heading already written."""

    def source(self, source: SourceRef, excerpt_chars: int) -> None: ...


def ordered_sources(draft: Draft) -> list[SourceRef]:
    """Sources sorted by their citation number, as they are listed in the report."""
    return sorted(draft.sources, key=lambda source: source.number)


def lay_out(draft: Draft, options: RenderOptions, layout: Layout) -> None:
    """The body after the contents: summary, what changed (for a monitor's run), the sections with
    their claims, tables and code, methods, numbered sources."""
    layout.heading(SUMMARY)
    if draft.summary:
        layout.summary(draft.summary)
    else:
        layout.nothing("No summary was produced.")
    if options.changes is not None:
        layout.heading(CHANGES)
        layout.changes(options.changes)
    for section in draft.sections:
        layout.heading(section_heading(section.heading))
        if is_empty(section):
            layout.note(EMPTY_SECTION)
        for claim in section.claims:
            layout.claim(claim)
        for table in section.tables:
            layout.table(table)
        for block in section.code:
            layout.code(block)
    if options.methods is not None:
        layout.heading(METHODS)
        layout.methods(options.methods, draft, options.asked)
    layout.heading(SOURCES)
    if not draft.sources:
        layout.nothing("No sources.")
    for source in ordered_sources(draft):
        layout.source(source, options.excerpt_chars)
