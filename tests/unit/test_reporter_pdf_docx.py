"""The report in PDF and Word: the PDF is rendered to images and read back as text, the Word file
is read back with python-docx; both are reproducible."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from docx import Document
from docx.document import Document as WordDocument
from docx.oxml.ns import qn
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph

from services.reporter.domain.layout import RenderOptions
from services.reporter.word import CODE_FONT, CODE_STYLE, render_docx
from tests.support.report import (
    ARABIC,
    CHINESE,
    FACTS,
    HEADINGS,
    RUN,
    RUSSIAN,
    SCRIPTS,
    URL,
    pdf_text,
    rendered,
    sample_draft,
)

# --- PDF --------------------------------------------------------------------------------------


def test_pdf_pages_render_to_images_with_ink_on_every_page(tmp_path: Path) -> None:
    document = pdfium.PdfDocument(rendered("pdf"))

    assert len(document) >= 3
    for number, page in enumerate(document, 1):
        image = page.render(scale=1).to_pil().convert("L")
        image.save(tmp_path / f"page-{number}.png")
        histogram = image.histogram()
        inked = sum(histogram[:200])  # pixels clearly darker than the white paper
        assert inked > 500, f"page {number} is blank"
        assert histogram[255] > image.width * image.height // 2, f"page {number} is not mostly paper"


def test_pdf_text_has_every_script_the_tables_the_code_and_the_methods() -> None:
    pages = pdf_text(pdfium.PdfDocument(rendered("pdf")))
    flat = " ".join(" ".join(pages).split())

    for script in SCRIPTS:
        assert script in flat, script
    assert "?" * 3 not in flat and "\ufffd" not in flat  # nothing was replaced
    for cell in ("__exit__(exc_type, exc, tb)", "true to suppress | swallow", "c overflow", "ragged row"):
        assert cell in flat, cell
    assert "print(row) # 東京" in flat
    assert "Quoted from [1]" in flat
    for fact in FACTS:
        assert fact in flat, fact
    assert "Translations — Русский текст — § Overview, part 2" in flat
    assert URL in flat


def test_pdf_contents_give_the_page_each_heading_starts_on() -> None:
    document = pdfium.PdfDocument(rendered("pdf"))
    bookmarks = {b.get_title(): b.get_dest().get_index() + 1 for b in document.get_toc()}
    first_page = pdf_text(document)[0]

    assert list(bookmarks) == HEADINGS
    for heading, page in bookmarks.items():
        assert re.search(rf"{re.escape(heading)}\s*{page}\b", first_page), (heading, page)
    assert bookmarks["Summary"] == 2  # the contents have the first page to themselves


def test_pdf_is_reproducible() -> None:
    assert rendered("pdf") == rendered("pdf")


# --- Word -------------------------------------------------------------------------------------


def _docx() -> WordDocument:
    return Document(io.BytesIO(rendered("docx")))


def _style(paragraph: Paragraph) -> ParagraphStyle:
    assert paragraph.style is not None, paragraph.text
    return paragraph.style


def test_docx_has_real_headings_and_a_contents_field_linking_to_them() -> None:
    doc = _docx()
    styled = [(_style(p).name, p.text) for p in doc.paragraphs]
    body = doc.element.body

    assert styled[0] == ("Title", f"The with statement ({CHINESE})")
    assert [text for style, text in styled if style == "Heading 1"] == HEADINGS
    instructions = [e.text for e in body.iter(qn("w:instrText"))]
    assert len(instructions) == 1 and instructions[0].strip().startswith("TOC")
    anchors = [e.get(qn("w:anchor")) for e in body.iter(qn("w:hyperlink")) if e.get(qn("w:anchor"))]
    bookmarks = [e.get(qn("w:name")) for e in body.iter(qn("w:bookmarkStart"))]
    assert anchors == bookmarks and len(anchors) == len(HEADINGS)
    entries = [text for style, text in styled if re.match(r"\d+\. ", text)][: len(HEADINGS)]
    assert entries == [f"{i}. {h}" for i, h in enumerate(HEADINGS, 1)]


def test_docx_tables_are_word_tables_with_a_repeating_header_row() -> None:
    doc = _docx()
    protocol, words, searches = doc.tables

    assert [c.text for c in protocol.rows[0].cells] == ["Method", "Called when", "Returns | notes"]
    assert [c.text for c in protocol.rows[3].cells] == ["ragged row", "", ""]
    assert [c.text for c in protocol.rows[4].cells] == ["a", "b", "c overflow"]
    header = protocol.rows[0]._tr.trPr
    assert header is not None and header.find(qn("w:tblHeader")) is not None
    assert all(c.paragraphs[0].runs[0].bold for c in protocol.rows[0].cells)
    assert [row.cells[1].text for row in words.rows[1:]] == list(SCRIPTS)
    assert [c.text for c in searches.rows[1].cells] == ["What does the with statement guarantee?", "8", "3"]


def test_docx_code_is_one_monospace_paragraph_with_its_lines() -> None:
    code = [p for p in _docx().paragraphs if _style(p).name == CODE_STYLE]

    assert len(code) == 1
    assert code[0].text == (
        "with open('data.csv', encoding='utf-8') as fh:\n    for row in fh:  # ``` inside\n        print(row)  # 東京"
    )
    assert _style(code[0]).font.name == CODE_FONT


def test_docx_keeps_non_latin_text_and_lays_out_arabic_right_to_left() -> None:
    paragraphs = _docx().paragraphs
    text = "\n".join(p.text for p in paragraphs)
    arabic = next(p for p in paragraphs if p.text.startswith(ARABIC))

    for script in SCRIPTS:
        assert script in text
    layout = arabic._p.pPr
    assert layout is not None and layout.find(qn("w:bidi")) is not None


def test_docx_methods_and_numbered_sources_with_locations_and_links() -> None:
    doc = _docx()
    texts = [p.text for p in doc.paragraphs]
    sources = texts[texts.index("Sources") + 1 :]
    links = [rel.target_ref for rel in doc.part.rels.values() if rel.reltype.endswith("/hyperlink") and rel.is_external]

    for fact in FACTS:
        assert any(fact in t for t in texts), fact
    assert sources[0] == "1.\tThe with statement — § The with statement, part 1"
    assert sources[2] == f"2.\tTranslations — {RUSSIAN} — § Overview, part 2 · {URL}"
    assert links == [URL]
    assert doc.core_properties.title == f"The with statement ({CHINESE})"


def test_docx_is_byte_for_byte_reproducible() -> None:
    first = rendered("docx")
    assert first == rendered("docx")
    assert first != render_docx(
        sample_draft(), RenderOptions(run_id=RUN, generated_at=datetime(2026, 1, 1, tzinfo=UTC))
    )
