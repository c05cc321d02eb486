"""One report in Markdown, PDF and Word: contents, tables, code blocks, non-Latin text, methods and
numbered sources survive every format. The PDF is rendered to images and read back as text, the
Word file is read back with python-docx, the Markdown with a CommonMark parser."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from pydoc_data.topics import topics

import pypdfium2 as pdfium
import pytest
from docx import Document
from docx.oxml.ns import qn
from markdown_it import MarkdownIt
from markdown_it.token import Token

from contracts.work import (
    Claim,
    CodeBlock,
    Draft,
    ReportMethods,
    SearchTally,
    Section,
    SourceRef,
    Table,
)
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import contents
from services.reporter.pdf import render_pdf
from services.reporter.word import CODE_FONT, CODE_STYLE, render_docx

WHEN = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)
RUN = "run-0192-abc"
GREEK, RUSSIAN, CHINESE = "Ελληνικά κείμενα", "Русский текст", "中文文本和東京"
JAPANESE, KOREAN, ARABIC = "日本語のテキスト", "한국어 텍스트", "مرحبا بالعالم"
SCRIPTS = (GREEK, RUSSIAN, CHINESE, JAPANESE, KOREAN, ARABIC)
CODE = "with open('data.csv', encoding='utf-8') as fh:\n\tfor row in fh:  # ``` inside\n\t\tprint(row)  # 東京\n"
URL = "https://example.org/guide/with?lang=el"


def _sentences(topic: str) -> list[str]:
    flat = " ".join(topics[topic].split())
    return [s for s in re.split(r"(?<=[.!?])\s+", flat) if len(s) > 20]


def _draft() -> Draft:
    with_ = _sentences("with")
    protocol = Table(
        header=["Method", "Called when", "Returns | notes"],
        rows=[
            ["__enter__()", "entering the block", "the value bound by `as`"],
            ["__exit__(exc_type, exc, tb)", "leaving it, even on error", "true to suppress | swallow"],
            ["ragged row"],  # too short: padded
            ["a", "b", "c", "overflow"],  # too long: folded into the last cell
        ],
        caption="The context manager protocol",
        citations=[1],
    )
    words = Table(header=["Language", "Word"], rows=[[s.split()[0], s] for s in SCRIPTS], citations=[2])
    return Draft(
        title=f"The with statement ({CHINESE})",
        question="What does the `with` statement guarantee?",
        summary=[Claim(text=s, citations=[1]) for s in with_[:2]],
        sections=[
            Section(
                heading="Semantics",
                claims=[Claim(text=s, citations=[1]) for s in with_[2:6]],
                tables=[protocol],
                code=[CodeBlock(code=CODE, language="python", citations=[1])],
            ),
            Section(
                heading=f"In other languages — {GREEK}",
                claims=[Claim(text=f"{s}: the with statement cleans up.", citations=[2]) for s in SCRIPTS],
                tables=[words],
            ),
        ],
        sources=[
            SourceRef(
                number=1,
                source_id="pydoc:topic:with",
                title="The with statement",
                location="§ The with statement, part 1",
                passage=topics["with"],
            ),
            SourceRef(
                number=2,
                source_id=URL,
                title=f"Translations — {RUSSIAN}",
                location="§ Overview, part 2",
                passage=" ".join(SCRIPTS),
            ),
        ],
    )


METHODS = ReportMethods(
    searches=[
        SearchTally(sub_question="What does the with statement guarantee?", passages=8, sources=3),
        SearchTally(sub_question="How do context managers handle exceptions?", passages=7, sources=4),
    ],
    searched=["corpus", "web"],
    passages_retrieved=15,
    sources_retrieved=6,
    passages_kept=12,
    claims_checked=14,
    claims_supported=13,
    support_rate=13 / 14,
    credits_reserved=24,
    plan="free",
    usage_records=7,
)
HEADINGS = contents(_draft(), None, METHODS)
FACTS = (
    "2 sub-questions in the shared corpus, the web",
    "15 passages from 6 sources; 12 kept after merging duplicates",
    "93%: 13 of 14 claims backed by their sources",
    "24 credits reserved on the free plan; 7 usage records metered",
)


def _render(fmt: str) -> bytes:
    render = {"md": lambda **kw: render_markdown(**kw).encode(), "pdf": render_pdf, "docx": render_docx}[fmt]
    return render(draft=_draft(), run_id=RUN, generated_at=WHEN, methods=METHODS)


def test_the_contents_name_every_heading_in_order() -> None:
    assert ["Summary", "Semantics", f"In other languages — {GREEK}", "Methods", "Sources"] == HEADINGS


# --- Markdown -------------------------------------------------------------------------------


def _tokens() -> list[Token]:
    return MarkdownIt("commonmark").enable(["table"]).parse(_render("md").decode())


def _inline_after(tokens: list[Token], opener: str) -> list[str]:
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == opener]


def test_markdown_has_contents_linking_every_heading() -> None:
    tokens = _tokens()
    links = [c.attrs["href"] for t in tokens for c in t.children or [] if c.type == "link_open"]

    assert _inline_after(tokens, "heading_open")[1:] == ["Contents", *HEADINGS]
    assert links[:3] == [
        "#summary",
        "#semantics",
        "#in-other-languages--%CE%B5%CE%BB%CE%BB%CE%B7%CE%BD%CE%B9%CE%BA%CE%AC-%CE%BA%CE%B5%CE%AF%CE%BC%CE%B5%CE%BD%CE%B1",
    ]
    assert links[3:] == ["#methods", "#sources", URL]


def test_markdown_tables_are_rectangular_gfm_tables_with_literal_cells() -> None:
    tokens = _tokens()
    headers = _inline_after(tokens, "th_open")
    cells = _inline_after(tokens, "td_open")

    assert [t.type for t in tokens].count("table_open") == 3  # protocol, words, searches
    assert headers[:3] == ["Method", "Called when", "Returns | notes"]
    # Each row has exactly as many cells as the header: padded, or the overflow folded in.
    assert cells[6:12] == ["ragged row", "", "", "a", "b", "c overflow"]
    assert "true to suppress | swallow" in cells
    assert all(script in cells for script in SCRIPTS)
    assert headers[-3:] == ["Sub-question", "Passages", "Sources"]


def test_markdown_code_is_a_fenced_block_kept_verbatim() -> None:
    fences = [t for t in _tokens() if t.type == "fence"]

    assert len(fences) == 1
    assert fences[0].info == "python"
    # Tabs become four spaces; the backticks inside do not close the fence.
    assert fences[0].content == (
        "with open('data.csv', encoding='utf-8') as fh:\n    for row in fh:  # ``` inside\n        print(row)  # 東京\n"
    )


def test_markdown_methods_and_sources() -> None:
    markdown = _render("md").decode()
    methods = markdown.split("## Methods\n", 1)[1].split("## Sources\n", 1)[0]
    sources = markdown.split("## Sources\n", 1)[1]

    for fact in FACTS:
        assert fact in methods
    assert "- **Cited:** 2 sources" in methods
    assert re.findall(r"^(\d+)\. (.+)$", sources, flags=re.M) == [
        ("1", "The with statement — § The with statement, part 1"),
        ("2", f"Translations — {RUSSIAN} — § Overview, part 2 · <{URL}>"),
    ]
    for script in SCRIPTS:
        assert script in markdown


# --- PDF --------------------------------------------------------------------------------------


def _pdf_text(document: pdfium.PdfDocument) -> list[str]:
    return [page.get_textpage().get_text_range() for page in document]


def test_pdf_pages_render_to_images_with_ink_on_every_page(tmp_path: Path) -> None:
    document = pdfium.PdfDocument(_render("pdf"))

    assert len(document) >= 3
    for number, page in enumerate(document, 1):
        image = page.render(scale=1).to_pil().convert("L")
        image.save(tmp_path / f"page-{number}.png")
        histogram = image.histogram()
        inked = sum(histogram[:200])  # pixels clearly darker than the white paper
        assert inked > 500, f"page {number} is blank"
        assert histogram[255] > image.width * image.height // 2, f"page {number} is not mostly paper"


def test_pdf_text_has_every_script_the_tables_the_code_and_the_methods() -> None:
    pages = _pdf_text(pdfium.PdfDocument(_render("pdf")))
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
    document = pdfium.PdfDocument(_render("pdf"))
    bookmarks = {b.get_title(): b.get_dest().get_index() + 1 for b in document.get_toc()}
    first_page = _pdf_text(document)[0]

    assert list(bookmarks) == HEADINGS
    for heading, page in bookmarks.items():
        assert re.search(rf"{re.escape(heading)}\s*{page}\b", first_page), (heading, page)
    assert bookmarks["Summary"] == 2  # the contents have the first page to themselves


def test_pdf_is_reproducible() -> None:
    assert _render("pdf") == _render("pdf")


# --- Word -------------------------------------------------------------------------------------


def _docx() -> Document:  # type: ignore[valid-type]
    return Document(io.BytesIO(_render("docx")))


def test_docx_has_real_headings_and_a_contents_field_linking_to_them() -> None:
    doc = _docx()
    styled = [(p.style.name, p.text) for p in doc.paragraphs]
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
    assert protocol.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert all(c.paragraphs[0].runs[0].bold for c in protocol.rows[0].cells)
    assert [row.cells[1].text for row in words.rows[1:]] == list(SCRIPTS)
    assert [c.text for c in searches.rows[1].cells] == ["What does the with statement guarantee?", "8", "3"]


def test_docx_code_is_one_monospace_paragraph_with_its_lines() -> None:
    code = [p for p in _docx().paragraphs if p.style.name == CODE_STYLE]

    assert len(code) == 1
    assert code[0].text == (
        "with open('data.csv', encoding='utf-8') as fh:\n    for row in fh:  # ``` inside\n        print(row)  # 東京"
    )
    assert code[0].style.font.name == CODE_FONT


def test_docx_keeps_non_latin_text_and_lays_out_arabic_right_to_left() -> None:
    paragraphs = _docx().paragraphs
    text = "\n".join(p.text for p in paragraphs)
    arabic = next(p for p in paragraphs if p.text.startswith(ARABIC))

    for script in SCRIPTS:
        assert script in text
    assert arabic._p.pPr.find(qn("w:bidi")) is not None


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
    first = _render("docx")
    assert first == _render("docx")
    assert first != render_docx(_draft(), run_id=RUN, generated_at=datetime(2026, 1, 1, tzinfo=UTC))


# --- Tables no format chokes on -------------------------------------------------------------


def _hostile_table() -> Table:
    wide = [f"Column {i} 東京" for i in range(1, 23)]
    token = "x" * 380
    return Table(
        header=wide,
        rows=[[token, *(f"r{r} | c{c}" for c in range(2, 23))] for r in range(3)] + [[], ["only one"]],
        caption="Twenty-two columns and an unbreakable cell",
    )


@pytest.mark.parametrize("fmt", ["md", "pdf", "docx"])
def test_a_very_wide_table_with_long_cells_renders_in_every_format(fmt: str) -> None:
    draft = _draft()
    odd = draft.sections[0].model_copy(update={"tables": [_hostile_table()], "code": [CodeBlock(code="\n\n")]})
    render = {"md": render_markdown, "pdf": render_pdf, "docx": render_docx}[fmt]

    data = render(draft.model_copy(update={"sections": [odd]}), run_id=RUN, generated_at=WHEN)

    if fmt == "pdf":
        assert isinstance(data, bytes)
        flat = " ".join(" ".join(_pdf_text(pdfium.PdfDocument(data))).split())
        # Split into column groups that each repeat the first column.
        assert "Columns 2 to 7 of 22" in flat and "Columns 20 to 22 of 22" in flat
        assert "r2 | c22" in flat and "only one" in flat
    elif fmt == "docx":
        assert isinstance(data, bytes)
        table = Document(io.BytesIO(data)).tables[0]
        assert len(table.columns) == 22 and len(table.rows) == 6
        assert table.rows[1].cells[0].text == "x" * 380
    else:
        assert isinstance(data, str)
        rows = [line for line in data.splitlines() if line.startswith("| ")]
        assert len(rows) == 6 and all(row.count(" | ") == 21 for row in rows)
