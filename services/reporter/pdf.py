"""Render a draft as a paginated PDF with fpdf2: Unicode-safe, byte-for-byte reproducible.

Text is set in the fonts the reporter ships (`fonts/`), so Greek, Cyrillic, Arabic, Hebrew and
CJK render on a machine without system fonts; right-to-left scripts are shaped with HarfBuzz
when `uharfbuzz` is installed. Without the bundled fonts it degrades to the PDF core fonts
(Latin-1, other characters approximated), never to a crash.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.errors import FPDFException
from fpdf.fonts import FontFace
from fpdf.outline import OutlineSection

from contracts.work import Changes, Claim, CodeBlock, Draft, ReportMethods, SourceRef, Table
from services.reporter.domain.layout import RenderOptions, lay_out
from services.reporter.domain.length import findings_words
from services.reporter.domain.markdown import change_lists, collapse, excerpt, format_timestamp, markers, source_url
from services.reporter.domain.structure import (
    CONTENTS,
    Grid,
    code_lines,
    contents,
    grid,
    methods_facts,
    searches_table,
)
from services.reporter.pdf_page import (
    BODY_SIZE,
    CELL_PAD,
    CODE_SIZE,
    FILL,
    FONT_DIR,
    INDENT,
    LINE,
    MARGIN,
    MUTED,
    RULE,
    TABLE_COLUMNS,
    TABLE_SIZE,
    TOC_LINE,
    ReportPDF,
)


def _cited(claim: Claim) -> str:
    # A no-break space keeps the markers on the line of the sentence they support.
    tag = markers(claim.citations)
    text = collapse(claim.text)
    return f"{text}\u00a0{tag}" if tag else text


_logger = logging.getLogger(__name__)


def _fit(pdf: ReportPDF, text: str, width: float) -> str:
    """The text, cut with an ellipsis so it fits on one line of `width` millimetres."""
    text = pdf.typeface.clean(text)
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _render_contents(pdf: FPDF, outline: list[OutlineSection]) -> None:
    assert isinstance(pdf, ReportPDF)
    pdf.set_text_color(0)
    number_width = 12.0
    for entry in outline:
        pdf.set_font(pdf.typeface.family, "", BODY_SIZE)
        link = pdf.add_link(page=entry.page_number)
        name = _fit(pdf, entry.name, pdf.text_width - number_width - 4)
        pdf.set_x(pdf.l_margin)
        pdf.cell(pdf.text_width - number_width, TOC_LINE, name, link=link)
        pdf.cell(number_width, TOC_LINE, str(entry.page_number), align=Align.R, link=link)
        pdf.ln(TOC_LINE)


def _contents_placeholder(pdf: ReportPDF, entries: int) -> None:
    """Reserve room for the contents: the rest of this page, and more pages if it will not fit."""
    pdf.heading(CONTENTS, listed=False)
    needed = entries * TOC_LINE
    room = pdf.page_break_trigger - pdf.get_y()
    page_room = pdf.page_break_trigger - pdf.t_margin
    pages = 1 + max(0, math.ceil((needed - room) / page_room))
    pdf.insert_toc_placeholder(_render_contents, pages=pages)


def _widths(pdf: ReportPDF, texts: list[str], style: str) -> tuple[float, float]:
    """The widest text and the widest single word among `texts`, in millimetres."""
    pdf.set_font(pdf.typeface.family, style, TABLE_SIZE)
    clean = pdf.typeface.clean
    line = max((pdf.get_string_width(clean(t)) for t in texts), default=0.0)
    word = max((pdf.get_string_width(clean(w)) for t in texts for w in t.split()), default=0.0)
    return line, word


def _column_widths(pdf: ReportPDF, g: Grid) -> list[float]:
    """Each column as wide as its longest line when the page allows; otherwise every column gets
    its longest word (so words are not broken) and the rest of the width goes where lines are long."""
    pad = 2 * CELL_PAD + 1.0
    wants, mins = [], []
    for i, head in enumerate(g.header):
        head_line, head_word = _widths(pdf, [head], "B")
        line, word = _widths(pdf, [row[i] for row in g.rows], "")
        mins.append(min(40.0, max(head_word, word)) + pad)
        wants.append(max(mins[-1], min(90.0, max(head_line, line) + pad)))
    # A hair under the page width: fpdf2 refuses a table even a rounding error wider than the page.
    room = pdf.epw * 0.999
    if sum(wants) <= room:
        return wants
    if sum(mins) >= room:
        return [w * room / sum(mins) for w in mins]
    spare, extra = room - sum(mins), sum(wants) - sum(mins)
    return [m + (w - m) * spare / extra for m, w in zip(mins, wants, strict=True)]


def _column_groups(g: Grid) -> list[Grid]:
    """A table too wide for the page as several, each repeating the first column."""
    if len(g.header) <= TABLE_COLUMNS:
        return [g]
    groups = []
    step = TABLE_COLUMNS - 1
    for start in range(1, len(g.header), step):
        cols = [0, *range(start, min(start + step, len(g.header)))]
        groups.append(
            Grid(
                [g.header[c] for c in cols],
                [[row[c] for c in cols] for row in g.rows],
                f"Columns {cols[1] + 1} to {cols[-1] + 1} of {len(g.header)}",
            )
        )
    return groups


def _write_grid(pdf: ReportPDF, g: Grid) -> None:
    clean = pdf.typeface.clean
    widths = _column_widths(pdf, g)
    pdf.set_font(pdf.typeface.family, "", TABLE_SIZE)
    pdf.set_draw_color(RULE)
    # Body cells are painted in the current fill colour: white, whatever was drawn before.
    pdf.set_fill_color(255)
    with pdf.table(
        col_widths=widths,
        width=sum(widths),
        align=Align.L,
        text_align=Align.L,
        line_height=TABLE_SIZE * 0.5,
        padding=(1.2, CELL_PAD),
        borders_layout=TableBordersLayout.ALL,
        headings_style=FontFace(emphasis="BOLD", fill_color=(232, 236, 241)),
    ) as table:
        for cells in [g.header, *g.rows]:
            row = table.row()
            for cell in cells:
                row.cell(clean(cell))
    pdf.set_draw_color(0)


@dataclass(frozen=True, slots=True)
class _Layout:
    """The report's parts as PDF."""

    pdf: ReportPDF

    def heading(self, text: str) -> None:
        self.pdf.heading(text)

    def summary(self, claims: list[Claim]) -> None:
        self.pdf.write_text(" ".join(_cited(claim) for claim in claims))

    def nothing(self, text: str) -> None:
        self.pdf.write_text(text)

    def note(self, text: str) -> None:
        self.pdf.note(text)

    def claim(self, claim: Claim) -> None:
        self.pdf.write_text(_cited(claim))
        self.pdf.ln(2)

    def table(self, table: Table) -> None:
        pdf = self.pdf
        g = grid(table)
        caption = g.caption or ("Table" if table.citations else "")
        if caption:
            pdf.keep_space(20)
            tag = markers(table.citations)
            pdf.write_text(f"{caption}\u00a0{tag}" if tag else caption, style="B", size=9)
            pdf.ln(1)
        for part in _column_groups(g):
            if part is not g:
                pdf.note(part.caption)
            try:
                _write_grid(pdf, part)
            except (FPDFException, ValueError):
                # A layout fpdf2 cannot draw (a row taller than a page): the cells as plain lines
                # still carry every value.
                _logger.exception("table did not fit, written as lines")
                for row in [part.header, *part.rows]:
                    pdf.write_text(" | ".join(row), size=TABLE_SIZE)
            pdf.ln(3)

    def code(self, block: CodeBlock) -> None:
        pdf = self.pdf
        lines = code_lines(block)
        if not lines:
            return
        pdf.keep_space(15)
        pdf.set_font(pdf.typeface.mono, "", CODE_SIZE)
        pdf.set_fill_color(FILL)
        pdf.multi_cell(
            0,
            CODE_SIZE * 0.48,
            pdf.typeface.clean("\n".join(lines)),
            align=Align.L,
            fill=True,
            padding=(2, 3),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_fill_color(255)
        if block.citations:
            pdf.ln(0.5)
            pdf.note(f"Quoted from {markers(block.citations)}")
        pdf.ln(2.5)

    def source(self, source: SourceRef, excerpt_chars: int) -> None:
        pdf = self.pdf
        pdf.set_text_color(0)
        pdf.set_font(pdf.typeface.family, "B", BODY_SIZE)
        pdf.keep_space(15)
        top = pdf.get_y()
        pdf.cell(INDENT, LINE, f"{source.number}.", align=Align.R)
        label = collapse(source.title) or "Untitled source"
        if source.location.strip():
            label = f"{label} — {collapse(source.location)}"
        pdf.set_y(top)
        pdf.write_text(label, style="B", indent=INDENT + 2)
        url = source_url(source)
        if url:
            pdf.set_font(pdf.typeface.family, "", 9)
            pdf.set_x(pdf.l_margin + INDENT + 2)
            pdf.set_text_color(30, 80, 160)
            pdf.multi_cell(0, 4.7, url, link=url, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        quoted = excerpt(source.passage, excerpt_chars)
        if quoted:
            pdf.set_text_color(MUTED)
            pdf.write_text(f"“{quoted}”", style="I", size=9.5, indent=INDENT + 2)
        pdf.ln(2.5)

    def methods(self, methods: ReportMethods, draft: Draft, asked: str) -> None:
        pdf = self.pdf
        for label, value in methods_facts(methods, draft, findings_words(draft), asked):
            pdf.set_font(pdf.typeface.family, "B", BODY_SIZE)
            pdf.set_x(pdf.l_margin)
            pdf.cell(38, LINE, pdf.typeface.clean(label))
            pdf.set_font(pdf.typeface.family, "", BODY_SIZE)
            pdf.multi_cell(0, LINE, pdf.typeface.clean(value), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if methods.searches:
            pdf.ln(3)
            self.table(searches_table(methods))

    def changes(self, changes: Changes) -> None:
        pdf = self.pdf
        pdf.write_text(f"Compared with run {collapse(changes.previous_run_id)}.", size=9)
        found = change_lists(changes)
        if not found:
            pdf.write_text("Nothing changed: the same sources support the same findings.")
        for heading, items in found:
            pdf.write_text(heading, style="B")
            for item in items:
                pdf.write_text(f"• {collapse(item)}", indent=4)
            pdf.ln(2)


def render_pdf(draft: Draft, options: RenderOptions, *, font_dir: Path = FONT_DIR) -> bytes:
    """Render the draft as a PDF: title, question, contents with page numbers, summary, what
    changed (for a monitor's run), sections with tables and code, methods, sources, page numbers."""
    run_id, generated_at = options.run_id, options.generated_at
    stamp = format_timestamp(generated_at)
    extra = (options.changes, options.methods)
    shown = [run_id, draft.model_dump_json(), *(x.model_dump_json() for x in extra if x is not None)]
    pdf = ReportPDF(footer_note=f"Quarry · run {collapse(run_id)} · {stamp}", font_dir=font_dir, text="".join(shown))
    clean = pdf.typeface.clean
    title = collapse(draft.title) or "Research report"
    # Fixed metadata, including the creation date, is what makes the output reproducible.
    pdf.set_title(clean(title))
    pdf.set_subject(clean(collapse(draft.question)))
    pdf.set_author("Quarry")
    pdf.set_creator("Quarry reporter")
    moment = generated_at.replace(tzinfo=UTC) if generated_at.tzinfo is None else generated_at
    pdf.set_creation_date(moment.astimezone(UTC))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=MARGIN)
    pdf.add_page()

    pdf.write_text(title, style="B", size=20)
    pdf.ln(1)
    pdf.set_text_color(MUTED)
    pdf.write_text(f"Run {collapse(run_id)} · Generated {stamp}", size=9)
    pdf.ln(4)
    pdf.set_text_color(0)
    pdf.write_text("Question", style="B")
    pdf.write_text(collapse(draft.question))
    _contents_placeholder(pdf, len(contents(draft, options.changes, options.methods)))
    lay_out(draft, options, _Layout(pdf))
    return bytes(pdf.output())
