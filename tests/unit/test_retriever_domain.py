"""The retriever's domain: sample corpus, text conversion, chunking and BM25 terms."""

from __future__ import annotations

import zlib
from itertools import pairwise
from pathlib import Path

import pytest

from services.retriever.domain.chunking import MAX_CHARS, MIN_CHARS, Chunk, chunk_document, chunk_text
from services.retriever.domain.corpus import STDLIB_MODULES, Document, module_document, sample_corpus, to_text
from services.retriever.domain.lexical import (
    AVERAGE_CHUNK_TOKENS,
    K1,
    LEAD_WEIGHT,
    bm25_weight,
    document_vector,
    query_vector,
    stem,
    term_id,
    tokenize,
)
from services.retriever.index import SourceIndex
from tests.support.corpus import corpus, filler_sentences, uploaded_document

__all__ = ["corpus"]  # the fixture

# --- corpus -----------------------------------------------------------------------------------


def test_corpus_is_substantial_real_text(corpus: list[Document]) -> None:
    assert len(corpus) > 50
    assert len({d.doc_id for d in corpus}) == len(corpus)
    assert sum(len(d.text) for d in corpus) > 500_000
    assert sum(len(d.text) >= 200 for d in corpus) >= 0.9 * len(corpus)
    by_id = {d.doc_id: d for d in corpus}
    with_topic = by_id["pydoc:topic:with"]
    assert with_topic.title == "Python reference: with"
    assert "context manager" in with_topic.text
    assert "__enter__" in with_topic.text
    json_doc = by_id["pydoc:module:json"]
    assert json_doc.title == "Python stdlib: json"
    assert "dumps" in json_doc.text and "JSON" in json_doc.text
    assert all(d.content_type == "text/plain" for d in corpus)


def test_corpus_is_deterministic_and_safe() -> None:
    assert [(d.doc_id, d.text) for d in sample_corpus(("json", "heapq"))] == [
        (d.doc_id, d.text) for d in sample_corpus(("json", "heapq"))
    ]
    assert 60 <= len(STDLIB_MODULES) <= 120
    assert not {"this", "antigravity", "tkinter", "turtle", "idlelib"} & set(STDLIB_MODULES)
    assert module_document("no_such_module_anywhere") is None
    assert " at 0x" not in (module_document("dataclasses") or uploaded_document("x", "")).text


# --- to_text ----------------------------------------------------------------------------------


def test_html_to_text_drops_scripts_and_keeps_headings() -> None:
    html = """<html><head><title>Doc</title><style>p { color: red }</style></head><body>
    <script>alert("nope")</script><h1>Main  title</h1><p>Some   <b>bold</b> text &amp; more.</p>
    <h2>Part two</h2><ul><li>one</li><li>two</li></ul><pre>  keep
      indent</pre></body></html>"""
    text = to_text(html, "text/html")
    assert "alert" not in text and "color" not in text
    assert "# Main title" in text.splitlines()
    assert "## Part two" in text.splitlines()
    assert "Some bold text & more." in text
    assert "- one\n- two" in text
    assert "  keep\n      indent" in text


def test_markdown_to_text_strips_markup_noise() -> None:
    markdown = (
        "Title\n=====\n\nSee [the docs](https://example.com) and ![logo](a.png), **bold**, *it*,\n"
        "`code`, snake_case_name, __init__ and \\*stars\\*.\n\n> quoted\n\n```\nx = a * b * c\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[ref]: https://example.com\n"
    )
    text = to_text(markdown, "text/markdown")
    assert text.startswith("# Title\n")
    assert "See the docs and logo, bold, it," in text
    assert "code, snake_case_name, __init__ and *stars*." in text
    assert "quoted" in text and ">" not in text
    assert "x = a * b * c" in text
    assert "|---|" not in text and "https://example.com" not in text


def test_plain_text_is_normalised_and_unknown_types_refused() -> None:
    assert to_text("a  \r\nb\r\n\r\n\r\n\r\nc\x00", "text/plain") == "a\nb\n\nc"
    with pytest.raises(ValueError):
        to_text("x", "application/pdf")  # type: ignore[arg-type]


# --- chunking ---------------------------------------------------------------------------------


def test_chunks_are_bounded_and_lose_nothing() -> None:
    text = "\n\n".join(filler_sentences(7, word=f"para{p}") for p in range(40))
    chunks = chunk_text("doc-1", "Long", text)
    assert len(chunks) > 10
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(len(c.text) <= MAX_CHARS for c in chunks)
    assert all(len(c.text) >= MIN_CHARS for c in chunks[:-1])
    joined = " ".join(c.text for c in chunks)
    for p in range(40):
        assert f"Sentence 6 says para{p} ipsum" in joined
    assert all(c.location == f"part {c.index + 1}" for c in chunks)  # no heading anywhere


def test_chunks_remember_their_heading() -> None:
    text = (
        "Introduction\n============\n\n" + filler_sentences(30, "intro") + "\n\n"
        "# Installing things\n\n" + filler_sentences(30, "install") + "\n\n"
        "Usage\n-----\n\nShort usage note.\n"
    )
    chunks = chunk_document(uploaded_document("doc-2", text, "Guide"))
    assert chunks[0].location == "§ Introduction, part 1"
    assert chunks[0].text.startswith("Introduction\n\n")  # underline markup is not carried along
    install = [c for c in chunks if "says install" in c.text]
    assert len(install) >= 2 and all(c.heading == "Installing things" for c in install)
    assert not any("says intro" in c.text for c in install)  # the intro's tail was long enough
    assert install[0].text.startswith("Installing things\n\n")
    assert install[1].location == f"§ Installing things, part {install[1].index + 1}"
    assert chunks[-1].text.endswith("Short usage note.")
    assert all(c.doc_id == "doc-2" and c.title == "Guide" for c in chunks)
    assert all(len(c.text) <= MAX_CHARS for c in chunks)


def test_a_long_signature_underlined_to_its_length_is_a_heading_and_a_long_line_over_a_rule_is_not() -> None:
    signature = "class Popen(" + ", ".join(f"option_{n}=None" for n in range(30)) + ")"
    assert len(signature) > 300
    text = f"{signature}\n{'-' * len(signature)}\n\n" + filler_sentences(8, "popen")
    assert chunk_text("doc-5", "Stdlib", text)[0].heading == signature
    prose = " ".join(["A long paragraph line that is not a title."] * 10)
    text = f"# Section\n\n{prose}\n{'-' * 40}\n\n" + filler_sentences(8, "after")
    assert {c.heading for c in chunk_text("doc-6", "Guide", text)} == {"Section"}


def test_a_scrap_of_a_section_joins_the_next() -> None:
    text = "# Tiny\n\nJust a line.\n\n# Big\n\n" + filler_sentences(10)
    first = chunk_text("doc-4", "Scraps", text)[0]
    assert first.heading == "Tiny" and first.location == "§ Tiny, part 1"
    assert first.text.startswith("Tiny\n\nJust a line.\n\nBig\n\nSentence 0")


def test_unbreakable_text_is_still_cut_to_size() -> None:
    chunks = chunk_text("doc-3", "Blob", "x" * 5000, min_chars=100, max_chars=500)
    assert all(len(c.text) <= 500 for c in chunks)
    assert "".join(c.text for c in chunks) == "x" * 5000
    with pytest.raises(ValueError):
        chunk_text("doc-3", "Blob", "text", min_chars=500, max_chars=500)


def test_sample_corpus_chunks(corpus: list[Document]) -> None:
    chunks = [c for d in corpus for c in chunk_document(d)]
    assert all(len(c.text) <= MAX_CHARS and c.text.strip() for c in chunks)
    with_chunks = [c for c in chunks if c.doc_id == "pydoc:topic:with"]
    assert with_chunks[0].location == '§ The "with" statement, part 1'
    # Only a document's last chunk may be a scrap; a chunk cut short by a new section still has
    # half the minimum, and most chunks reach the full minimum.
    last = {c.doc_id: c.index for c in chunks}
    assert all(len(c.text) >= MIN_CHARS // 2 for c in chunks if c.index != last[c.doc_id])
    assert sum(len(c.text) >= MIN_CHARS for c in chunks) >= 0.5 * len(chunks)


# --- lexical ----------------------------------------------------------------------------------


def test_tokenizer_drops_stopwords_but_keeps_python_keywords() -> None:
    assert tokenize("How does the with statement work?") == ["with", "statement", "work"]
    # names are terms whole, then their parts
    assert tokenize("The __enter__() method; with_stmt") == [
        "__enter__",
        "enter",
        "method",
        "with_stmt",
        "with",
        "stmt",
    ]
    assert tokenize("import re for regexes") == ["import", "re", "for", "regex"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("statements", "statement"),
        ("working", "work"),
        ("worked", "work"),
        ("entries", "entry"),
        ("classes", "class"),
        ("running", "run"),
        ("passed", "pass"),
        ("status", "status"),
        ("string", "string"),
    ],
)
def test_stemmer(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_inflections_meet_at_one_stem() -> None:
    assert len({stem(w) for w in ("use", "uses", "used", "using")}) == 1
    assert len({stem(w) for w in ("value", "values", "valued")}) == 1


def test_term_ids_are_stable_crc32() -> None:
    # pinned values: a salted hash() would differ between processes and break a persistent index
    assert term_id("with") == 2559631886 == zlib.crc32(b"with")
    assert term_id("statement") == 3235598710
    assert all(0 <= term_id(t) < 2**32 for t in ("a", "ünïcode", "x" * 40))


def test_bm25_weights_saturate() -> None:
    weights = [bm25_weight(tf, doc_len=100, avg_doc_len=100) for tf in range(1, 60)]
    assert weights == sorted(weights)
    gains = [b - a for a, b in pairwise(weights)]
    assert gains == sorted(gains, reverse=True)  # each further occurrence adds less
    assert weights[-1] < K1 + 1 and weights[-1] > 0.95 * (K1 + 1)
    assert bm25_weight(1, 100, 100) == pytest.approx((K1 + 1) / (1 + K1))
    # the same count in a longer document weighs less
    assert bm25_weight(3, 400, 100) < bm25_weight(3, 100, 100) < bm25_weight(3, 25, 100)


def test_document_and_query_vectors() -> None:
    doc = document_vector("lists lists lists tuples", avg_doc_len=AVERAGE_CHUNK_TOKENS)
    assert doc.indices == sorted(set(doc.indices)) and len(doc.indices) == 2
    weights = dict(zip(doc.indices, doc.values, strict=True))
    assert weights[term_id("list")] > weights[term_id("tupl")] > 0
    query = query_vector("Lists and lists with tuples")
    assert query.indices == sorted({term_id("list"), term_id("and"), term_id("with"), term_id("tupl")})
    # "and" and "with" read as English here: kept, below the words that name something
    weighed = dict(zip(query.indices, query.values, strict=True))
    assert weighed == {term_id("list"): 1.0, term_id("tupl"): 1.0, term_id("and"): 0.3, term_id("with"): 0.3}
    assert query_vector("the of to").indices == []


def test_every_chunk_of_a_section_carries_its_first_sentence_as_lead() -> None:
    text = (
        "# rmtree(path)\n\nRecursively delete a directory tree. " + filler_sentences(40, "tree") + "\n\n"
        "# copy(src, dst)\n\nCopy data and mode bits. " + filler_sentences(3, "copy")
    )
    chunks = chunk_text("doc-5", "Leads", text)
    tree = [c for c in chunks if c.heading == "rmtree(path)"]
    assert len(tree) >= 2 and {c.lead for c in tree} == {"Recursively delete a directory tree."}
    assert [c.lead for c in chunks if c.heading == "copy(src, dst)"] == ["Copy data and mode bits."]
    assert all(c.lead == "" for c in chunk_text("doc-6", "Plain", filler_sentences(40)))  # no heading, no lead


def test_a_scrap_keeps_the_lead_of_the_section_it_starts_in() -> None:
    text = "# Tiny\n\nJust a line.\n\n# Big\n\nThe big one. " + filler_sentences(10)
    assert chunk_text("doc-7", "Scraps", text)[0].lead == "Just a line."


def test_a_lead_is_one_bounded_sentence() -> None:
    long = "word " * 100
    (chunk,) = chunk_text("doc-8", "Long", f"# Head\n\n{long}")
    assert len(chunk.lead) <= 200 and chunk.lead.startswith("word word")


def test_lead_terms_add_weight_and_nothing_else() -> None:
    body = "Recursively delete a directory tree. " + "Errors are raised or ignored as the caller asks. " * 6
    plain = document_vector(body)
    led = document_vector(body, lead="Recursively delete a directory tree.")
    assert led.indices == plain.indices  # the lead is the chunk's own: no new terms
    before, after = dict(zip(plain.indices, plain.values, strict=True)), dict(zip(led.indices, led.values, strict=True))
    for term in tokenize("delete directory tree"):
        assert after[term_id(term)] > before[term_id(term)]
    (error,) = tokenize("errors")
    assert after[term_id(error)] == before[term_id(error)]
    assert document_vector(body, lead="Recursively delete.", lead_weight=0.0) == plain
    # a term of the lead weighs at most (1 + lead weight) times what saturated BM25 gives
    assert max(after.values()) <= (1 + LEAD_WEIGHT) * (K1 + 1)


def test_the_section_whose_lead_says_what_is_asked_ranks_first(tmp_path: Path) -> None:
    body = "Delete a directory tree." + " Errors are raised as usual when the call fails." * 4
    led = chunk_text("doc-a", "Tools", f"# prune(path)\n\n{body}")[0]
    assert led.lead == "Delete a directory tree."
    unled = Chunk("doc-b", led.title, led.location, led.text, 0, led.heading)  # the same words, no lead
    with SourceIndex(path=tmp_path / "q", feedback=None) as index:
        index.ensure_collection()
        index.add([unled, led], "t")
        hits = index.search("delete a directory", ["t"], 2)
    assert [h.source_id for h in hits] == ["doc-a", "doc-b"] and hits[0].score > hits[1].score
