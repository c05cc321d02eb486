"""What every format of a report shows, decided once: the contents, the methods section, tables
made rectangular and code made printable. Pure; the renderers only lay it out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from contracts.report import ReportLength
from contracts.work import Changes, CodeBlock, Draft, ReportMethods, Section, Table

CONTENTS = "Contents"
SUMMARY = "Summary"
CHANGES = "What changed since the previous run"
METHODS = "Methods"
SOURCES = "Sources"
UNTITLED_SECTION = "Untitled section"
# An outline heading no finding fits: said plainly rather than filled.
EMPTY_SECTION = "The sources found for this run say nothing on this."
TAB_WIDTH = 4
# A cell this long is a paragraph, not a table entry; longer ones are cut so one row cannot
# outgrow a page.
CELL_CHARS = 400
_WHITESPACE = re.compile(r"\s+")
# C0/C1 controls other than whitespace have no business in prose (CommonMark turns NUL into U+FFFD).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SEARCHED = {"corpus": "the shared corpus", "datasets": "the tenant's documents", "web": "the web"}


def flat(text: str) -> str:
    """One line of text: whitespace runs folded to a space, control codes dropped."""
    return _WHITESPACE.sub(" ", _CONTROLS.sub("", text)).strip()


def section_heading(heading: str) -> str:
    return flat(heading) or UNTITLED_SECTION


def is_empty(section: Section) -> bool:
    return not (section.claims or section.tables or section.code)


def contents(draft: Draft, changes: Changes | None, methods: ReportMethods | None) -> list[str]:
    """The report's top-level headings in order, as its table of contents lists them."""
    headings = [SUMMARY]
    if changes is not None:
        headings.append(CHANGES)
    headings += [section_heading(s.heading) for s in draft.sections]
    if methods is not None:
        headings.append(METHODS)
    return [*headings, SOURCES]


@dataclass(frozen=True)
class Grid:
    """A table ready to draw: every row as long as the header, every cell one line."""

    header: list[str]
    rows: list[list[str]]
    caption: str


def grid(table: Table) -> Grid:
    """Pad short rows, fold overlong ones into their last cell, flatten and bound every cell."""
    width = len(table.header)

    def cell(text: str) -> str:
        text = flat(text)
        return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1].rstrip() + "…"

    rows = []
    for row in table.rows:
        cells = [*row[: width - 1], " ".join(row[width - 1 :])] if len(row) > width else row
        rows.append([cell(c) for c in cells] + [""] * (width - len(cells)))
    return Grid([cell(h) for h in table.header], rows, flat(table.caption))


def code_lines(block: CodeBlock) -> list[str]:
    """The code's lines with tabs expanded, trailing blanks and control codes removed."""
    lines = [_printable(line.expandtabs(TAB_WIDTH)).rstrip() for line in block.code.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def code_language(block: CodeBlock) -> str:
    """The language tag as a single safe word ("c++" stays, "py thon`" becomes "python")."""
    return "".join(ch for ch in block.language if ch.isalnum() or ch in "+-#._")[:30]


def _printable(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf") or ch == "\t")


def plural(count: int, noun: str) -> str:
    """ "1 source", "2 sources"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def length_asked(length: ReportLength, target_words: int | None) -> str:
    return f"about {target_words} words" if target_words is not None else length


def methods_facts(
    methods: ReportMethods, draft: Draft, findings_words: int, asked: str = "standard"
) -> list[tuple[str, str]]:
    """(what, figure) rows of the methods section; `asked` is the length the run asked for."""
    searched = (
        ", ".join(_SEARCHED.get(s, s) for s in methods.searched) or "the shared corpus and the tenant's documents"
    )
    kept = f"; {methods.passages_kept} kept after merging duplicates" if methods.passages_kept is not None else ""
    facts = [
        ("Searched", f"{plural(len(methods.searches), 'sub-question')} in {searched}"),
        (
            "Retrieved",
            f"{plural(methods.passages_retrieved, 'passage')} from {plural(methods.sources_retrieved, 'source')}{kept}",
        ),
        ("Cited", plural(len(draft.sources), "source")),
    ]
    if methods.support_rate is not None:
        checked = ""
        if methods.claims_checked is not None and methods.claims_supported is not None:
            checked = (
                f": {methods.claims_supported} of {plural(methods.claims_checked, 'claim')} backed by their sources"
            )
        facts.append(("Citation support", f"{methods.support_rate:.0%}{checked}"))
    if methods.claims_off_question is not None:
        n = methods.claims_off_question
        whose = "its" if n == 1 else "their"
        facts.append(("Answer relevance", f"{plural(n, 'claim')} dropped as not answering {whose} sub-question"))
    cost = f"{plural(methods.usage_records, 'usage record')} metered"
    if methods.credits_reserved is not None:
        plan = f" on the {methods.plan} plan" if methods.plan else ""
        cost = f"{plural(methods.credits_reserved, 'credit')} reserved{plan}; {cost}"
    facts.append(("Cost so far", cost))
    facts.append(("Length", f"{plural(findings_words, 'word')} of findings ({asked} asked)"))
    if methods.template_id is not None:
        name = methods.template_name or methods.template_id
        facts.append(
            ("Template", f"{name} (id {methods.template_id}, version {methods.template_version}), {methods.tone} tone")
        )
    return facts


def searches_table(methods: ReportMethods) -> Table:
    """One row per sub-question: what its search returned."""
    return Table(
        header=["Sub-question", "Passages", "Sources"],
        rows=[[s.sub_question, str(s.passages), str(s.sources)] for s in methods.searches],
        caption="What each search returned",
    )
