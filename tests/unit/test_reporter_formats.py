"""One report in Markdown and every format: contents, tables, code blocks, methods and numbered
sources, read back with a CommonMark parser; a table no format chokes on."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from docx import Document
from markdown_it import MarkdownIt
from markdown_it.token import Token

from contracts.work import CodeBlock, Draft, Table
from services.reporter.domain.layout import RenderOptions
from services.reporter.domain.markdown import render_markdown
from services.reporter.domain.structure import methods_facts
from services.reporter.pdf import render_pdf
from services.reporter.word import render_docx
from tests.support.report import (
    FACTS,
    GREEK,
    HEADINGS,
    METHODS,
    RUN,
    RUSSIAN,
    SCRIPTS,
    URL,
    WHEN,
    pdf_text,
    rendered,
    sample_draft,
)


def test_the_contents_name_every_heading_in_order() -> None:
    assert ["Summary", "Semantics", f"In other languages — {GREEK}", "Methods", "Sources"] == HEADINGS


# --- Markdown -------------------------------------------------------------------------------


def _tokens() -> list[Token]:
    return MarkdownIt("commonmark").enable(["table"]).parse(rendered("md").decode())


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


def test_methods_say_how_many_claims_were_off_the_question_only_when_it_was_checked() -> None:
    checked = dict(methods_facts(METHODS.model_copy(update={"claims_off_question": 3}), sample_draft(), 120))
    assert checked["Answer relevance"] == "3 claims dropped as not answering their sub-question"
    unchecked = METHODS.model_copy(update={"claims_off_question": None})
    assert "Answer relevance" not in dict(methods_facts(unchecked, sample_draft(), 120))


def test_markdown_methods_and_sources() -> None:
    markdown = rendered("md").decode()
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
    draft = sample_draft()
    odd = draft.sections[0].model_copy(update={"tables": [_hostile_table()], "code": [CodeBlock(code="\n\n")]})
    renderers: dict[str, Callable[[Draft, RenderOptions], str | bytes]] = {
        "md": render_markdown,
        "pdf": render_pdf,
        "docx": render_docx,
    }
    render = renderers[fmt]

    data = render(draft.model_copy(update={"sections": [odd]}), RenderOptions(run_id=RUN, generated_at=WHEN))

    if fmt == "pdf":
        assert isinstance(data, bytes)
        flat = " ".join(" ".join(pdf_text(pdfium.PdfDocument(data))).split())
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
