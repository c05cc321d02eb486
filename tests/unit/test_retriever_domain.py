"""The retriever's domain: sample corpus, text conversion, chunking, BM25 terms and the Qdrant index."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from contracts.work import Passage
from services.retriever.domain.chunking import MAX_CHARS, MIN_CHARS, Chunk, chunk_document, chunk_text
from services.retriever.domain.corpus import STDLIB_MODULES, Document, module_document, sample_corpus, to_text
from services.retriever.domain.lexical import (
    AVERAGE_CHUNK_TOKENS,
    K1,
    bm25_weight,
    document_vector,
    query_vector,
    stem,
    term_id,
    tokenize,
)
from services.retriever.index import (
    COLLECTION,
    PUBLIC_TENANT,
    SourceIndex,
    ingest_documents,
    point_id,
)

# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return sample_corpus()


@pytest.fixture(scope="module")
def public_index(corpus: list[Document]) -> Iterator[SourceIndex]:
    """The whole sample corpus under the public tenant, in memory (well under a second to build)."""
    index = SourceIndex(QdrantClient(":memory:"))
    index.ensure_collection()
    ingest_documents(index, corpus, PUBLIC_TENANT)
    yield index
    index.close()


def _document(doc_id: str, text: str, title: str = "Uploaded") -> Document:
    return Document(doc_id=doc_id, title=title, text=text, content_type="text/plain")


def _sentences(n: int, word: str = "lorem") -> str:
    return " ".join(f"Sentence {i} says {word} ipsum dolor sit amet for testing." for i in range(n))


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
    assert " at 0x" not in (module_document("dataclasses") or _document("x", "")).text


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
    text = "\n\n".join(_sentences(7, word=f"para{p}") for p in range(40))
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
        "Introduction\n============\n\n" + _sentences(30, "intro") + "\n\n"
        "# Installing things\n\n" + _sentences(30, "install") + "\n\n"
        "Usage\n-----\n\nShort usage note.\n"
    )
    chunks = chunk_document(_document("doc-2", text, "Guide"))
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


def test_a_scrap_of_a_section_joins_the_next() -> None:
    text = "# Tiny\n\nJust a line.\n\n# Big\n\n" + _sentences(10)
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
    assert tokenize("The __enter__() method; with_stmt") == ["enter", "method", "with", "stmt"]
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
    assert query.values == [1.0] * 4
    assert query_vector("the of to").indices == []


# --- index ------------------------------------------------------------------------------------


def _ids(passages: list[Passage]) -> list[str]:
    return [p.source_id for p in passages]


def test_search_finds_the_with_statement(public_index: SourceIndex) -> None:
    passages = public_index.search("how does the with statement work", ["acme", PUBLIC_TENANT], 5)
    assert len(passages) == 5
    assert "pydoc:topic:with" in _ids(passages)
    hit = next(p for p in passages if p.source_id == "pydoc:topic:with")
    assert hit.title == "Python reference: with"
    assert hit.location.startswith('§ The "with" statement')
    assert "with" in hit.text
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_search_ranks_specific_module_docs(public_index: SourceIndex) -> None:
    passages = public_index.search("json dumps indent", [PUBLIC_TENANT], 3)
    assert set(_ids(passages)) == {"pydoc:module:json"}
    assert public_index.search("zzyzx qwxv", [PUBLIC_TENANT], 5) == []
    assert public_index.search("the of", [PUBLIC_TENANT], 5) == []  # nothing left to match
    assert public_index.search("json", [], 5) == []


def test_tenants_are_isolated(public_index: SourceIndex) -> None:
    secret = _document("upload:a:1", "Quokkazebra migration plan. " + _sentences(5), "A's secret")
    ingest_documents(public_index, [secret], "tenant-a")
    found_by_a = public_index.search("quokkazebra migration", ["tenant-a", PUBLIC_TENANT], 5)
    assert _ids(found_by_a)[0] == "upload:a:1"
    found_by_b = public_index.search("quokkazebra migration", ["tenant-b", PUBLIC_TENANT], 50)
    assert "upload:a:1" not in _ids(found_by_b)
    assert public_index.search("quokkazebra", ["tenant-b", PUBLIC_TENANT], 50) == []
    assert public_index.count("tenant-b") == 0
    # the public corpus is there for everyone
    assert "pydoc:topic:with" in _ids(public_index.search("with statement", ["tenant-b", PUBLIC_TENANT], 5))


def test_re_adding_is_idempotent(public_index: SourceIndex, corpus: list[Document]) -> None:
    before = public_index.count(PUBLIC_TENANT)
    assert before == sum(len(chunk_document(d)) for d in corpus)
    written = ingest_documents(public_index, corpus[:20], PUBLIC_TENANT)
    assert written > 20
    assert public_index.count(PUBLIC_TENANT) == before
    assert point_id("t", "d", 0) == point_id("t", "d", 0) != point_id("u", "d", 0)


def test_replace_and_delete_document() -> None:
    with SourceIndex(QdrantClient(":memory:")) as index:
        index.ensure_collection()
        long = chunk_document(_document("doc", "\n\n".join(_sentences(8, "old") for _ in range(10))))
        short = chunk_document(_document("doc", _sentences(3, "fresh")))
        assert len(long) > 3 and len(short) == 1
        index.add(long, "t1")
        index.add(long, "t2")
        assert index.replace_document("t1", "doc", short) == 1
        assert index.count("t1") == 1
        assert _ids(index.search("fresh", ["t1"], 5)) == ["doc"]
        assert index.search("old", ["t1"], 5) == []
        assert index.count("t2") == len(long)  # another tenant's copy of the same doc id is untouched
        index.delete_document("t1", "doc")
        assert index.count("t1") == 0 and index.count("t2") == len(long)
        with pytest.raises(ValueError):
            index.replace_document("t1", "other", short)


def test_idf_is_scoped_to_the_searching_tenants(corpus: list[Document]) -> None:
    """With tenant-scoped IDF, what another tenant uploads cannot move my scores."""
    client = QdrantClient(":memory:")
    scoped = SourceIndex(client)
    unscoped = SourceIndex(client, tenant_scoped_idf=False)
    scoped.ensure_collection()
    ingest_documents(scoped, corpus[:40], PUBLIC_TENANT)
    query = "assert statement"

    def scores(index: SourceIndex) -> list[float]:
        return [p.score for p in index.search(query, ["tenant-b", PUBLIC_TENANT], 5)]

    scoped_before, unscoped_before = scores(scoped), scores(unscoped)
    assert scoped_before == pytest.approx(unscoped_before)  # same corpus, same statistics
    flood = [_document(f"flood-{i}", "assert assert statement " + _sentences(2)) for i in range(200)]
    ingest_documents(scoped, flood, "tenant-a")
    assert scores(scoped) == pytest.approx(scoped_before)
    assert scores(unscoped) != pytest.approx(unscoped_before)
    client.close()


def test_ensure_collection_is_idempotent_and_checks_schema() -> None:
    client = QdrantClient(":memory:")
    index = SourceIndex(client)
    index.ensure_collection()
    index.ensure_collection()
    sparse = client.get_collection(COLLECTION).config.params.sparse_vectors
    assert sparse is not None and sparse["bm25"].modifier == models.Modifier.IDF
    client.create_collection("plain", vectors_config={}, sparse_vectors_config={"bm25": models.SparseVectorParams()})
    with pytest.raises(RuntimeError, match="IDF"):
        SourceIndex(client, collection="plain").ensure_collection()
    with pytest.raises(ValueError):
        SourceIndex()
    with pytest.raises(ValueError):
        SourceIndex(client, url="http://localhost:6333")


def test_local_mode_persists_across_reopen(tmp_path: Path, corpus: list[Document]) -> None:
    documents = [d for d in corpus if d.doc_id in {"pydoc:topic:with", "pydoc:topic:assert"}]
    with SourceIndex(path=tmp_path / "qdrant") as index:
        index.ensure_collection()
        written = ingest_documents(index, documents, PUBLIC_TENANT)
    with SourceIndex(path=tmp_path / "qdrant") as reopened:
        reopened.ensure_collection()
        assert reopened.count(PUBLIC_TENANT) == written
        assert _ids(reopened.search("with statement context manager", [PUBLIC_TENANT], 1)) == ["pydoc:topic:with"]


def test_chunk_payload_round_trips_to_passage(public_index: SourceIndex) -> None:
    chunk = Chunk(doc_id="note-1", title="Note", location="§ Top, part 1", text="Flibbertigibbet.", index=0)
    assert public_index.add([chunk], "tenant-c") == 1
    [passage] = public_index.search("flibbertigibbet", ["tenant-c"], 3)
    assert passage == Passage(
        source_id="note-1",
        title="Note",
        location="§ Top, part 1",
        text="Flibbertigibbet.",
        score=passage.score,
    )
    assert passage.score > 0
