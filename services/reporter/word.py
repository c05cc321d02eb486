"""Render a draft as a Word document (python-docx): real headings, a contents field, Word
tables, code in a monospace style, numbered sources; reproducible bytes."""

from __future__ import annotations

import io
from datetime import UTC

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph

from contracts.work import Changes, Claim, CodeBlock, Draft, ReportMethods, SourceRef, Table
from services.reporter.domain.layout import RenderOptions, lay_out
from services.reporter.domain.length import findings_words
from services.reporter.domain.markdown import change_lists, collapse, excerpt, format_timestamp, markers, source_url
from services.reporter.domain.structure import (
    CONTENTS,
    code_language,
    code_lines,
    contents,
    grid,
    methods_facts,
    searches_table,
)
from services.reporter.word_xml import (
    bookmark,
    cell_shading,
    external_link,
    field_begin,
    field_end,
    internal_link,
    is_rtl,
    repeat_as_header,
    reproducible,
    set_rtl,
    shade,
    xml_safe,
)

CODE_STYLE = "Quarry Code"
CODE_FONT = "Courier New"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MUTED = RGBColor(0x64, 0x64, 0x64)
_HEADER_FILL = "E8ECF1"
_CODE_FILL = "F4F4F4"


def _cited(claim: Claim) -> str:
    tag = markers(claim.citations)
    return f"{collapse(claim.text)}\u00a0{tag}" if tag else collapse(claim.text)


class _Writer:
    """Appends the report's parts to a document, bookmarking each listed heading."""

    def __init__(self, doc: DocxDocument, headings: list[str]) -> None:
        self.doc = doc
        # Headings are written in the order the contents list them, so the n-th gets the n-th anchor.
        self.anchors = [f"_Toc_quarry_{i}" for i in range(1, len(headings) + 1)]
        self.written = 0

    def paragraph(self, text: str = "", style: str | None = None) -> Paragraph:
        p = self.doc.add_paragraph(xml_safe(text), style=style)
        if is_rtl(text):
            set_rtl(p)
        return p

    def heading(self, text: str) -> None:
        p = self.doc.add_heading(xml_safe(text), level=1)
        if is_rtl(text):
            set_rtl(p)
        if self.written < len(self.anchors):
            bookmark(p, self.anchors[self.written], self.written + 1)
        self.written += 1

    def summary(self, claims: list[Claim]) -> None:
        self.paragraph(" ".join(_cited(c) for c in claims))

    def nothing(self, text: str) -> None:
        self.paragraph(text)

    def claim(self, claim: Claim) -> None:
        self.paragraph(_cited(claim))

    def note(self, text: str) -> None:
        run = self.paragraph().add_run(xml_safe(text))
        run.italic = True
        run.font.color.rgb = _MUTED
        run.font.size = Pt(9)

    def table(self, table: Table) -> None:
        g = grid(table)
        caption = g.caption or ("Table" if table.citations else "")
        if caption:
            tag = markers(table.citations)
            self.paragraph(f"{caption}\u00a0{tag}" if tag else caption, style="Caption")
        word_table = self.doc.add_table(rows=1 + len(g.rows), cols=len(g.header))
        word_table.style = self.doc.styles["Table Grid"]
        word_table.alignment = WD_TABLE_ALIGNMENT.LEFT
        for row, cells in zip(word_table.rows, [g.header, *g.rows], strict=True):
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = xml_safe(text)
                if is_rtl(text):
                    set_rtl(cell.paragraphs[0])
        header = word_table.rows[0]
        repeat_as_header(header)
        cell_shading(header, _HEADER_FILL)
        for cell in header.cells:
            for run in cell.paragraphs[0].runs:
                run.bold = True
        self.paragraph()

    def code(self, block: CodeBlock) -> None:
        lines = code_lines(block)
        if not lines:
            return
        language = code_language(block)
        if language:
            self.note(language)
        p = self.doc.add_paragraph(style=CODE_STYLE)
        # One paragraph with line breaks keeps the block one shaded box.
        p.add_run(xml_safe("\n".join(lines)))
        shade(p, _CODE_FILL)
        if block.citations:
            self.note(f"Quoted from {markers(block.citations)}")

    def changes(self, changes: Changes) -> None:
        self.note(f"Compared with run {collapse(changes.previous_run_id)}.")
        found = change_lists(changes)
        if not found:
            self.paragraph("Nothing changed: the same sources support the same findings.")
        for heading, items in found:
            self.paragraph().add_run(heading).bold = True
            for item in items:
                self.paragraph(collapse(item), style="List Bullet")

    def methods(self, methods: ReportMethods, draft: Draft, asked: str) -> None:
        for label, value in methods_facts(methods, draft, findings_words(draft), asked):
            p = self.paragraph(style="List Bullet")
            p.add_run(f"{label}: ").bold = True
            p.add_run(xml_safe(value))
        if methods.searches:
            self.table(searches_table(methods))

    def source(self, source: SourceRef, excerpt_chars: int) -> None:
        p = self.paragraph()
        p.paragraph_format.left_indent = Cm(0.8)
        p.paragraph_format.first_line_indent = Cm(-0.8)
        p.paragraph_format.space_after = Pt(2)
        p.add_run(f"{source.number}.\t")
        title = p.add_run(xml_safe(collapse(source.title) or "Untitled source"))
        title.bold = True
        if source.location.strip():
            p.add_run(xml_safe(f" — {collapse(source.location)}"))
        url = source_url(source)
        if url:
            p.add_run(" · ")
            external_link(p, url, url)
        quoted = excerpt(source.passage, excerpt_chars)
        if quoted:
            q = self.paragraph()
            q.paragraph_format.left_indent = Cm(0.8)
            run = q.add_run(xml_safe(f"“{quoted}”"))
            run.italic = True
            run.font.size = Pt(9)
            run.font.color.rgb = _MUTED


def _styles(doc: DocxDocument) -> None:
    normal = doc.styles["Normal"]
    assert isinstance(normal, ParagraphStyle)
    normal.font.size = Pt(10.5)
    code = doc.styles.add_style(CODE_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    assert isinstance(code, ParagraphStyle)
    code.base_style = normal
    code.font.name = CODE_FONT
    code.font.size = Pt(9)
    # The complex-script slot too, or Word sets Arabic or Hebrew in code in a proportional font.
    code.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:cs"), CODE_FONT)
    code.paragraph_format.space_after = Pt(8)
    code.paragraph_format.left_indent = Cm(0.3)


def _contents(writer: _Writer, headings: list[str]) -> None:
    """A TOC field whose result is already filled in with links, so it reads before Word updates it."""
    writer.paragraph(CONTENTS, style="TOC Heading")
    for i, heading in enumerate(headings):
        p = writer.paragraph()
        p.paragraph_format.space_after = Pt(2)
        if i == 0:
            field_begin(p, 'TOC \\o "1-1" \\h \\z \\u')
        internal_link(p, f"{i + 1}. {heading}", writer.anchors[i])
        if i == len(headings) - 1:
            field_end(p)


def render_docx(draft: Draft, options: RenderOptions) -> bytes:
    """Render the draft as a .docx: title, question, contents, summary, what changed (for a
    monitor's run), sections with tables and code, methods, numbered sources."""
    generated_at = options.generated_at
    moment = (generated_at.replace(tzinfo=UTC) if generated_at.tzinfo is None else generated_at).astimezone(UTC)
    doc = Document()
    _styles(doc)
    title = collapse(draft.title) or "Research report"
    props = doc.core_properties
    props.title = xml_safe(title)
    props.subject = xml_safe(collapse(draft.question))
    props.author = props.last_modified_by = "Quarry"
    props.comments = xml_safe(f"Quarry run {collapse(options.run_id)}")
    props.created = props.modified = moment.replace(tzinfo=None)
    props.revision = 1

    headings = contents(draft, options.changes, options.methods)
    writer = _Writer(doc, headings)
    doc.add_heading(xml_safe(title), level=0)
    writer.note(f"Run {collapse(options.run_id)} · Generated {format_timestamp(moment)}")
    question = writer.paragraph()
    question.add_run("Question: ").bold = True
    question.add_run(xml_safe(collapse(draft.question)))
    _contents(writer, headings)
    lay_out(draft, options, writer)

    out = io.BytesIO()
    doc.save(out)
    return reproducible(out.getvalue(), moment)
