"""Rendering a draft to Markdown and PDF: structure, citations, Unicode and reproducibility."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from pathlib import Path
from pydoc_data.topics import topics

import pypdfium2 as pdfium  # type: ignore[import-untyped]

from contracts.work import Claim, Draft, Section, SourceRef
from services.reporter.domain.layout import EXCERPT_CHARS, RenderOptions
from services.reporter.domain.markdown import cite, escape, excerpt, render_markdown
from services.reporter.pdf import render_pdf

WHEN = datetime(2025, 3, 14, 9, 26, tzinfo=UTC)
RUN = "run-0192-abc"
UNICODE = "Müller, 東京, Привет"
LONG_TOKEN = "https://example.org/" + "a" * 400 + "/end"
CODE_LINE = "with open('data.csv', encoding='utf-8') as fh: rows = [r.split(',') for r in fh if r]"


def _source(number: int, passage: str = "A passage.") -> SourceRef:
    return SourceRef(
        number=number,
        source_id=f"doc-{number}",
        title=f"Source {number}",
        location=f"chunk {number}",
        passage=passage,
    )


def _draft() -> Draft:
    return Draft(
        title="Context managers",
        question="How does the with statement clean up?",
        summary=[
            Claim(text="The with statement wraps a block.", citations=[1]),
            Claim(text="Cleanup runs on exceptions too.", citations=[2, 1, 2]),
        ],
        sections=[
            Section(heading="Mechanics", claims=[Claim(text="__enter__ is called first.", citations=[3])]),
            Section(heading="Exceptions", claims=[Claim(text="__exit__ may suppress them.", citations=[2])]),
        ],
        # Deliberately out of order: the report must list them by number.
        sources=[_source(3, "x" * 1000), _source(1), _source(2)],
    )


def _sentences(topic: str) -> list[str]:
    flat = " ".join(topics[topic].split())
    return [s for s in re.split(r"(?<=[.!?])\s+", flat) if len(s) > 20]


def _real_draft() -> Draft:
    """A draft of real reference text plus the awkward cases: long tokens, code, non-Latin text."""
    with_, try_ = _sentences("with"), _sentences("try")
    return Draft(
        title=f"The with statement ({UNICODE})",
        question="What does the `with` statement guarantee?",
        summary=[Claim(text=s, citations=[1]) for s in with_[:3]],
        sections=[
            Section(heading="Semantics", claims=[Claim(text=s, citations=[1]) for s in with_[3:12]]),
            Section(heading="Exceptions", claims=[Claim(text=s, citations=[2]) for s in try_[:12]]),
            Section(
                heading=f"Edge cases — {UNICODE}",
                claims=[
                    Claim(text=f"An unbroken token: {LONG_TOKEN}", citations=[3]),
                    Claim(text=CODE_LINE, citations=[1, 3]),
                    Claim(text=f"{UNICODE}; Ελληνικά; emoji 🚀; bidi مرحبا; nul\x00byte.", citations=[3]),
                ],
            ),
        ],
        sources=[
            SourceRef(number=1, source_id="w", title="The with statement", location="§8.5", passage=topics["with"]),
            SourceRef(number=2, source_id="t", title="The try statement", location="§8.4", passage=topics["try"]),
            SourceRef(number=3, source_id="u", title=UNICODE, location="chunk 0", passage=LONG_TOKEN),
        ],
    )


# --- Markdown -------------------------------------------------------------------------------


def _split_sources(markdown: str) -> tuple[str, str]:
    body, _, sources = markdown.partition("\n## Sources\n")
    return body, sources


def test_markdown_has_title_metadata_question_and_every_section_in_order() -> None:
    markdown = render_markdown(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    lines = markdown.splitlines()
    assert lines[0] == "# Context managers"
    assert RUN in lines[2]
    assert "2025-03-14 09:26 UTC" in lines[2]
    assert "**Question:** How does the with statement clean up?" in lines
    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["Contents", "Summary", "Mechanics", "Exceptions", "Sources"]
    assert markdown.endswith("\n")


def test_markdown_summary_and_claims_carry_citation_markers() -> None:
    markdown = render_markdown(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))
    body, _ = _split_sources(markdown)

    summary = body.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0]
    # Repeated numbers are collapsed, first-seen order is kept.
    assert summary == "The with statement wraps a block. [1] Cleanup runs on exceptions too. [2][1]"
    assert "\\_\\_enter\\_\\_ is called first. [3]" in body


def test_markdown_every_cited_number_has_a_numbered_source_listed_in_order() -> None:
    markdown = render_markdown(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))
    body, sources = _split_sources(markdown)

    cited = {int(n) for n in re.findall(r"(?<!\\)\[(\d+)\]", body)}
    listed = [int(n) for n in re.findall(r"^(\d+)\. ", sources, flags=re.M)]
    assert cited == {1, 2, 3}
    assert listed == [1, 2, 3]
    assert cited <= set(listed)
    assert "1. Source 1 — chunk 1" in sources


def test_markdown_source_excerpt_is_quoted_and_shortened() -> None:
    markdown = render_markdown(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))
    _, sources = _split_sources(markdown)

    quotes = re.findall(r"^ {3}> (.*)$", sources, flags=re.M)
    assert quotes[0] == "A passage."
    long_quote = quotes[2]
    assert long_quote.endswith("…")
    assert len(long_quote) <= EXCERPT_CHARS


def _rendered_with_section(heading: str, *claims: str) -> str:
    """The Markdown of the test draft with one section of the given claims, each citing source 1."""
    section = Section(heading=heading, claims=[Claim(text=text, citations=[1]) for text in claims])
    draft = _draft().model_copy(update={"sections": [section]})
    return render_markdown(draft, RenderOptions(run_id=RUN, generated_at=WHEN))


def test_markdown_escapes_claim_text_so_structure_cannot_be_injected() -> None:
    markdown = _rendered_with_section(
        "Tricky ##", "## Fake heading\n\n- list *bold* [x](http://e) <b>a|b</b>", "1. not a list"
    )

    headings = re.findall(r"^## (.+)$", markdown, flags=re.M)
    assert headings == ["Contents", "Summary", "Tricky \\##", "Sources"]
    # Newlines are folded, so "- list" is mid-line and harmless; only line starts need escaping.
    assert "\\## Fake heading - list \\*bold\\* \\[x\\](http://e) \\<b\\>a\\|b\\</b\\> [1]" in markdown
    assert "1\\. not a list [1]" in markdown


def test_a_claims_api_label_renders_as_code_and_anything_else_in_backticks_stays_escaped() -> None:
    markdown = _rendered_with_section(
        "Labels", "`math.fsum()`: Return an accurate *sum*.", "`a b`: not a name, `x` <i>"
    )
    assert "`math.fsum()`: Return an accurate \\*sum\\*. [1]" in markdown
    assert "\\`a b\\`: not a name, \\`x\\` \\<i\\> [1]" in markdown


def test_markdown_parses_to_the_intended_structure_with_a_commonmark_parser() -> None:
    # markdown-it-py comes with rich, a runtime dependency; it is the reference for well-formedness.
    from markdown_it import MarkdownIt

    hostile = Claim(text="*x* [l](http://e) <i>h</i> `c` ~~s~~ &amp; | a |", citations=[2])
    draft = _real_draft()
    draft = draft.model_copy(update={"summary": [*draft.summary, hostile]})
    tokens = (
        MarkdownIt("commonmark")
        .enable(["table", "strikethrough"])
        .parse(render_markdown(draft, RenderOptions(run_id=RUN, generated_at=WHEN)))
    )

    types = [token.type for token in tokens]
    children = [child for token in tokens for child in token.children or []]
    inline = [child.type for child in children]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    listed = ["Summary", "Semantics", "Exceptions", f"Edge cases — {UNICODE}", "Sources"]
    assert headings[0].startswith("The with statement")
    assert headings[1:] == ["Contents", *listed]
    # The contents (one item per heading, each a link to its anchor) and the three sources.
    assert types.count("list_item_open") == len(listed) + 3
    assert [c.attrs["href"] for c in children if c.type == "link_open"] == [
        "#summary",
        "#semantics",
        "#exceptions",
        # markdown-it percent-encodes the link; the anchor is GitHub's slug of the heading.
        "#edge-cases--m%C3%BCller-%E6%9D%B1%E4%BA%AC-%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82",
        "#sources",
    ]
    assert types.count("blockquote_open") == 3
    # Only the metadata line's emphasis and the question's bold are markup; claim text is literal.
    assert inline.count("em_open") == 1
    assert inline.count("strong_open") == 1
    assert not {"html_inline", "code_inline", "s_open"} & set(inline)
    assert "table_open" not in types


def test_markdown_treats_naive_timestamp_as_utc_and_keeps_real_text_intact() -> None:
    markdown = render_markdown(_real_draft(), RenderOptions(run_id=RUN, generated_at=datetime(2025, 1, 2, 3, 4)))

    assert "2025-01-02 03:04 UTC" in markdown
    assert LONG_TOKEN in markdown
    assert UNICODE in markdown
    assert "nulbyte" in markdown


def test_helpers_escape_cite_and_excerpt() -> None:
    assert escape("a\n\n  b") == "a b"
    assert escape("&amp; AT&T") == "&amp;amp; AT&T"
    assert cite("Done.", [4, 4, 2]) == "Done. [4][2]"
    assert excerpt("short") == "short"
    words = excerpt("word " * 200)
    assert words.endswith("word…")
    assert len(words) <= EXCERPT_CHARS
    # A single token longer than the limit is cut instead of being dropped entirely.
    assert excerpt("The " + "x" * 1000).startswith("The xxx")


# --- PDF ------------------------------------------------------------------------------------


def _page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b(?!s)", data))


def _streams(data: bytes) -> list[bytes]:
    """Every stream of the file (page contents, ToUnicode maps), inflated when compressed."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, flags=re.S):
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def test_pdf_is_a_pdf_with_pages_and_metadata() -> None:
    data = render_pdf(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert _page_count(data) >= 1
    assert b"/Title (Context managers)" in data
    assert b"D:20250314092600" in data


def test_pdf_is_byte_for_byte_deterministic() -> None:
    first = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))
    second = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))
    later = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=datetime(2026, 1, 1, tzinfo=UTC)))

    assert first == second
    assert first != later


def test_pdf_renders_real_text_long_tokens_and_non_latin_text_over_several_pages() -> None:
    data = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    assert _page_count(data) >= 2
    outline = [item.get_title() for item in pdfium.PdfDocument(data).get_toc()]
    assert outline == ["Summary", "Semantics", "Exceptions", f"Edge cases — {UNICODE}", "Sources"]


def test_pdf_embeds_the_bundled_unicode_fonts() -> None:
    data = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    assert b"DejaVuSans" in data
    assert b"DroidSansFallback" in data  # 東京 needs the CJK face
    to_unicode = b"".join(s for s in _streams(data) if b"begincmap" in s).upper()
    # The subsets map glyphs back to U+00FC, U+041F, U+0395, U+6771 and U+0645, so the text stays
    # searchable.
    for codepoint in (b"00FC", b"041F", b"0395", b"6771", b"0645"):
        assert codepoint in to_unicode
    # No bundled face has emoji: the rocket becomes a visible replacement character.
    assert b"FFFD" in to_unicode


def test_pdf_leaves_out_faces_the_text_does_not_need() -> None:
    data = render_pdf(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    assert b"DejaVuSans" in data
    assert b"DroidSansFallback" not in data
    assert b"NotoSansCJK" not in data


def test_pdf_falls_back_to_core_font_and_never_crashes_without_ttf(tmp_path: Path) -> None:
    data = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN), font_dir=tmp_path)

    assert b"/BaseFont /Helvetica" in data
    assert b"DejaVu" not in data
    text = b"".join(_streams(data)).decode("latin-1")
    assert "M\\374ller" in text or "Müller" in text  # latin-1 survives (possibly octal-escaped)
    assert "Page 1 of" in text
    # The long token is wrapped over several lines, never drawn as one overflowing string.
    shown = re.findall(r"\((.*?)(?<!\\)\) ?Tj", text)
    assert shown, "expected text-showing operators in the content stream"
    assert all(LONG_TOKEN not in s for s in shown)
    assert sum(s.count("a" * 40) for s in shown) >= 5


def test_pdf_falls_back_when_the_font_file_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "DejaVuSans.ttf").write_bytes(b"not a font")

    data = render_pdf(_draft(), RenderOptions(run_id=RUN, generated_at=WHEN), font_dir=tmp_path)

    assert b"/BaseFont /Helvetica" in data


def test_pdf_text_extracts_with_every_script_intact() -> None:
    data = render_pdf(_real_draft(), RenderOptions(run_id=RUN, generated_at=WHEN))

    document = pdfium.PdfDocument(data)
    flat = " ".join(" ".join(page.get_textpage().get_text_range() for page in document).split())
    assert "The with statement" in flat
    assert "Sources" in flat
    assert "Page 1 of" in flat
    for word in ("Müller", "東京", "Привет", "Ελληνικά", "مرحبا"):
        assert word in flat, word
