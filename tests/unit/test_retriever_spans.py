"""The retriever's text rewrites give what the regular expressions they replace gave, in linear
time: a page or upload built to make a backtracking pattern rescan itself is read in well under
a second."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.retriever.domain import spans
from services.retriever.domain.chunking import chunk_text
from services.retriever.domain.corpus import to_text
from services.retriever.web.extract import extract_page

# The patterns as they were: the reference the rewrites are held to.
_RULES: list[tuple[str, str, Callable[[str], str]]] = [
    (r"(?<!\w)(\*\*|\*)(?=\S)(.+?)(?<=\S)\1(?!\w)", r"\2", spans.EMPHASIS.strip),
    (r"<!--.*?-->", "", spans.drop_comments),
    (r"!\[([^\]]*)\]\([^)]*\)", r"\1", spans.unwrap_images),
    (r"\[([^\]]+)\]\([^)]*\)", r"\1", spans.unwrap_links),
    (r"\[([^\]]+)\]\[[^\]]*\]", r"\1", spans.unwrap_reference_links),
    (r"<((?:https?|mailto):[^>\s]+)>", r"\1", spans.unwrap_autolinks),
    (r"</?[A-Za-z][^>\n]*>", "", spans.drop_tags),
    (r"(`+)(.+?)\1", r"\2", spans.CODE.strip),
    (r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"\1", spans.BOLD.strip),
    (r"~~(?=\S)(.+?)(?<=\S)~~", r"\1", spans.STRUCK.strip),
    (r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", r"\1", spans.ITALIC.strip),
    (r"(?<![\w])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w])", r"\1", spans.UNDERSCORED.strip),
]
_IDS = [rule[0] for rule in _RULES]

# Few characters, so that delimiters meet, pair and fail to pair often.
_MARKUP = st.text(alphabet="*_~`[]()<>!-:/ ahé1\t", max_size=40)
_LINE = _MARKUP.map(lambda s: s.replace("ah", "http:").replace("é1", "<!--").replace("1é", "-->"))


@pytest.mark.parametrize(("pattern", "replacement", "rewrite"), _RULES, ids=_IDS)
@settings(max_examples=400, deadline=None)
@given(line=_LINE)
def test_each_rewrite_gives_what_its_pattern_gave(
    pattern: str, replacement: str, rewrite: Callable[[str], str], line: str
) -> None:
    assert rewrite(line) == re.sub(pattern, replacement, line)


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet="*x \n_é", max_size=40))
def test_emphasis_is_paired_within_a_line_only(text: str) -> None:
    pattern = r"(?<!\w)(\*\*|\*)(?=\S)(.+?)(?<=\S)\1(?!\w)"
    assert spans.EMPHASIS.strip(text) == re.sub(pattern, r"\2", text)


@settings(max_examples=400, deadline=None)
@given(line=st.text(alphabet="# \tab", max_size=24))
def test_heading_lines_read_as_the_patterns_read_them(line: str) -> None:
    chunker = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", line)
    reader = re.match(r"^(#{1,6})\s+(.*?)(\s+#+)?\s*$", line)
    assert spans.atx_heading(line, lazy_empty=False) == (chunker.group(1, 2) if chunker else None)
    assert spans.atx_heading(line, lazy_empty=True) == (reader.group(1, 2) if reader else None)


_SIZE = 64 * 1024
_ATTACKS = {
    "unpaired emphasis": " *x" * (_SIZE // 3),
    "unpaired emphasis, no spaces": "*x" * (_SIZE // 2),
    "unpaired bold": " **x" * (_SIZE // 4),
    "unpaired underscores": " _x" * (_SIZE // 3),
    "unclosed brackets": "[a" * (_SIZE // 2),
    "links never followed by a parenthesis": "[a" * (_SIZE // 2) + "]x)",
    "unclosed images": "![a](" * (_SIZE // 5),
    "unclosed comments": "<!--" * (_SIZE // 4),
    "unclosed autolinks": "<http:" * (_SIZE // 6),
    "unclosed tags": "<a" * (_SIZE // 2),
    "unclosed code": "``a" * (_SIZE // 3),
    "a heading of spaces": "# a" + " " * _SIZE + "x",
}


@pytest.mark.parametrize("attack", list(_ATTACKS.values()), ids=list(_ATTACKS))
def test_adversarial_lines_are_read_in_well_under_a_second(attack: str) -> None:
    # CPU time of this thread: what catastrophic backtracking would blow up, and not what a
    # loaded machine's scheduler adds to the wall clock.
    started = time.thread_time()
    to_text(attack, "text/markdown")
    chunk_text("doc", "title", attack)
    spans.EMPHASIS.strip(attack)
    assert time.thread_time() - started < 1.0


def test_adversarial_html_is_extracted_in_well_under_a_second() -> None:
    page = f"<html><body><article><h1>Trap</h1><p>{' *x' * (_SIZE // 3)}</p></article></body></html>"
    started = time.thread_time()
    extracted = extract_page(page.encode(), "html", url="https://example.org/trap")
    assert time.thread_time() - started < 1.0
    assert extracted.text.count("*x") > 1000


def test_normal_markup_reads_as_before() -> None:
    html = (
        b"<html><head><title>Tide pools</title></head><body><article><h1>Tide pools</h1>"
        b"<p>Pools hold <b>anemones</b> and <i>sea stars</i>; a <code>snake_case</code> name stays.</p>"
        b"<p>Another paragraph with <strong>strong words</strong> in it, long enough to be kept.</p>"
        b"</article></body></html>"
    )
    text = extract_page(html, "html", url="https://example.org/pools").text
    assert "Pools hold anemones and sea stars" in text
    assert "strong words" in text and "*" not in text
    markdown = (
        "## Title ##\n\nSee [the docs](https://x.org) and ![a map](m.png), `code`, **bold**, *it*, ~~old~~, <b>x</b>."
    )
    assert to_text(markdown, "text/markdown") == "## Title\n\nSee the docs and a map, code, bold, it, old, x."
