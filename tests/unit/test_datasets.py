"""Datasets: file extraction (a real PDF), content sniffing, progress folding, dataset-scoped search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fpdf import FPDF
from qdrant_client import QdrantClient

from contracts.document import (
    DatasetCreated,
    DatasetCreatedPayload,
    DatasetDeleted,
    DatasetDeletedPayload,
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentProgress,
    DocumentProgressPayload,
    DocumentRejected,
    DocumentRejectedPayload,
    DocumentStage,
    DocumentUploaded,
    DocumentUploadedPayload,
    StoredObject,
)
from contracts.work import SearchInput
from quarry_runtime.store import SqlDatabase
from services.gateway.domain.sniff import Unsupported, sniff, title_from
from services.gateway.readmodels.datasets import DatasetStore, advance
from services.gateway.settings import GatewaySettings
from services.retriever.application.search import search_sources
from services.retriever.domain.chunking import chunk_text
from services.retriever.extraction import chunk_pages, extract_file
from services.retriever.index import DATASET, PUBLIC_TENANT, SourceIndex
from tests.fakes.pdf import pdf_of

TITLE = "Tidal power notes"
PAGES = [
    "Tidal turbines convert the kinetic energy of moving water into electricity.",
    "Barnacle fouling on the rotor blades reduces the turbine efficiency by several percent each year.",
    "Maintenance crews scrape the blades during slack water, when the current stops.",
]


# --- extraction --------------------------------------------------------------------------------


def test_a_pdf_is_read_page_by_page_and_chunks_name_their_page() -> None:
    extracted = extract_file(pdf_of(TITLE, PAGES), "application/pdf", "notes.pdf")
    assert extracted.pages == 3
    assert "# Page 2" in extracted.text and "Barnacle fouling" in extracted.text
    chunks = chunk_pages("d1", "notes", extracted.text)
    assert [c.location for c in chunks] == ["page 1", "page 2", "page 3"]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert "Barnacle" in chunks[1].text and chunks[1].heading == "Page 2"
    long_page = extract_file(pdf_of(TITLE, ["A sentence about tides. " * 200]), "application/pdf", "long.pdf")
    parts = chunk_pages("d2", "long", long_page.text)
    assert len(parts) > 1 and parts[1].location == "page 1, part 2"


def test_a_pdf_without_text_and_bytes_that_are_no_pdf_are_refused() -> None:
    blank = FPDF()
    blank.add_page()
    with pytest.raises(ValueError, match="no text layer"):
        extract_file(bytes(blank.output()), "application/pdf", "blank.pdf")
    with pytest.raises(ValueError, match="not a readable PDF"):
        extract_file(b"%PDF-1.7 then garbage", "application/pdf", "broken.pdf")


def test_html_keeps_the_article_and_markdown_and_text_are_read_as_sent() -> None:
    article = " ".join(["Quarry indexes the main text of a page and leaves the menus behind."] * 8)
    html = (
        f"<html><head><title>Harbour survey</title></head><body><nav>Home | About | Login</nav>"
        f"<article><h1>Harbour survey</h1><p>{article}</p></article><footer>Copyright</footer></body></html>"
    ).encode()
    text = extract_file(html, "text/html", "survey.html").text
    assert "leaves the menus behind" in text and "Login" not in text
    small = extract_file(b"<p>Only a <b>fragment</b>.</p>", "text/html", "frag.html").text
    assert "fragment" in small
    markdown = extract_file(b"# Heading\n\nSome **bold** words.", "text/markdown", "a.md").text
    assert markdown.startswith("# Heading") and "bold" in markdown and "**" not in markdown
    with pytest.raises(ValueError, match="not UTF-8"):
        extract_file(b"caf\xe9", "text/plain", "latin1.txt")


# --- sniffing ------------------------------------------------------------------------------------


def test_the_bytes_decide_the_type_and_the_name_tells_markdown_from_text() -> None:
    pdf = pdf_of(TITLE, ["x"])[:1024]
    assert sniff(pdf, "application/octet-stream", "whatever.bin") == "application/pdf"
    assert sniff(pdf, None, None) == "application/pdf"
    assert sniff(b"<!DOCTYPE html><html>", "text/plain", "page.txt") == "text/html"
    assert sniff(b"# Title\n", "text/plain", "notes.md") == "text/markdown"
    assert sniff(b"# Title\n", "text/markdown", None) == "text/markdown"
    assert sniff(b"plain words", None, "notes.txt") == "text/plain"
    for head, declared, name, why in (
        (b"plain words", "application/pdf", "x.pdf", "does not start like"),
        (pdf, "text/html", "x.pdf", "is a PDF but was sent"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, "x.md", "binary"),
        (b"PK\x03\x04", "application/zip", "x.zip", "not accepted"),
    ):
        with pytest.raises(Unsupported, match=why):
            sniff(head, declared, name)
    assert title_from("reports/Q3 summary.final.pdf", "x") == "Q3 summary.final"
    assert title_from(None, "untitled") == "untitled"


# --- progress folding ----------------------------------------------------------------------------


def _progress(stage: DocumentStage, done: int = 0, total: int = 0, pages: int | None = None) -> DocumentProgress:
    payload = DocumentProgressPayload(document_id="d1", stage=stage, chunks_done=done, chunks_total=total, pages=pages)
    return DocumentProgress.create(payload, tenant_id="t1")


def test_progress_only_moves_forward() -> None:
    start = {"status": "queued", "reason": None, "pages": None, "chunks_done": 0, "chunks_total": 0}
    extracting = advance(start, _progress("extracting"))
    assert extracting is not None and extracting["status"] == "extracting"
    indexing = advance(extracting, _progress("indexing", 64, 100, pages=3))
    assert indexing == {"status": "indexing", "reason": None, "pages": 3, "chunks_done": 64, "chunks_total": 100}
    assert advance(indexing, _progress("chunking")) is None, "a late earlier stage is ignored"
    assert advance(indexing, _progress("indexing", 64, 100)) is None, "a redelivery changes nothing"
    done = advance(
        indexing, DocumentIndexed.create(DocumentIndexedPayload(document_id="d1", chunks=100), tenant_id="t1")
    )
    assert done is not None and done["status"] == "indexed" and done["chunks_done"] == 100
    assert advance(done, _progress("indexing", 100, 100, pages=3)) is None, "nothing moves a finished document"
    unpaged = done | {"pages": None}
    assert advance(unpaged, _progress("chunking", pages=3)) == unpaged | {"pages": 3}, "a late page count is kept"
    rejected = advance(
        start, DocumentRejected.create(DocumentRejectedPayload(document_id="d1", reason="empty"), tenant_id="t1")
    )
    assert rejected is not None and rejected["status"] == "rejected" and rejected["reason"] == "empty"


@pytest.fixture
def datasets(tmp_path: Path) -> Iterator[DatasetStore]:
    db = SqlDatabase(GatewaySettings(data_dir=tmp_path), "gateway")
    yield DatasetStore(db)
    db.close()


def _upload(document_id: str, dataset_id: str, tenant: str = "t1") -> DocumentUploaded:
    stored = StoredObject(bucket="b", name=f"{tenant}/{dataset_id}/{document_id}", sha256="0" * 64, size=2048)
    payload = DocumentUploadedPayload(
        document_id=document_id, title="notes", content_type="application/pdf", stored=stored, dataset_id=dataset_id
    )
    return DocumentUploaded.create(payload, tenant_id=tenant)


def test_the_read_model_folds_a_datasets_documents_and_forgets_a_deleted_dataset(datasets: DatasetStore) -> None:
    created = DatasetCreated.create(DatasetCreatedPayload(dataset_id="ds1", name="papers"), tenant_id="t1")
    for ev in (created, created, _upload("d1", "ds1"), _upload("d2", "ds1"), _upload("d3", "nope")):
        datasets.apply(ev)
    for progress in (_progress("extracting"), _progress("indexing", 10, 20, pages=4), _progress("chunking")):
        datasets.apply(progress)
    datasets.apply(
        DocumentRejected.create(DocumentRejectedPayload(document_id="d2", reason="no text layer"), tenant_id="t1")
    )
    # Another tenant's events about the same ids change nothing here.
    datasets.apply(DocumentIndexed.create(DocumentIndexedPayload(document_id="d1", chunks=5), tenant_id="t2"))

    [listed] = datasets.of_tenant("t1")
    assert listed["name"] == "papers" and listed["documents"] == 2
    assert listed["by_status"] == {"indexing": 1, "rejected": 1}
    docs = {d["document_id"]: d for d in datasets.documents_of("t1", "ds1")}
    assert set(docs) == {"d1", "d2"}, "an upload into a dataset that does not exist stays out"
    assert (docs["d1"]["status"], docs["d1"]["chunks_done"], docs["d1"]["chunks_total"], docs["d1"]["pages"]) == (
        "indexing",
        10,
        20,
        4,
    )
    assert docs["d2"]["status"] == "rejected" and docs["d2"]["reason"] == "no text layer"
    assert datasets.of_tenant("t2") == [] and datasets.find("t2", "papers") is None

    datasets.apply(DatasetDeleted.create(DatasetDeletedPayload(dataset_id="ds1", name="papers"), tenant_id="t1"))
    assert datasets.of_tenant("t1") == [] and datasets.documents_of("t1", "ds1") == []


def test_whether_a_tenant_keeps_documents_agrees_with_its_usage(datasets: DatasetStore) -> None:
    def agree(tenant: str) -> bool:
        kept = datasets.has_documents(tenant)
        assert kept is (datasets.usage(tenant)[1] > 0)
        return kept

    assert not agree("t1")
    datasets.apply(DatasetCreated.create(DatasetCreatedPayload(dataset_id="ds1", name="papers"), tenant_id="t1"))
    datasets.apply(_upload("d1", "ds1"))
    assert agree("t1") and not agree("t2")
    datasets.apply(DatasetDeleted.create(DatasetDeletedPayload(dataset_id="ds1", name="papers"), tenant_id="t1"))
    assert not agree("t1")


# --- dataset-scoped search -----------------------------------------------------------------------


@pytest.fixture
def index() -> Iterator[SourceIndex]:
    with SourceIndex(QdrantClient(":memory:"), label_fields=(DATASET,)) as index:
        index.ensure_collection()
        for tenant, doc_id, dataset, text in (
            (PUBLIC_TENANT, "public-1", None, "Turbine blades in the public corpus also gather barnacles."),
            ("t1", "a-1", "ds-a", "Barnacle fouling on turbine blades, as measured in dataset A."),
            ("t1", "b-1", "ds-b", "Barnacle fouling on turbine blades, as measured in dataset B."),
            ("t1", "loose", None, "Barnacle fouling on turbine blades, from a document in no dataset."),
            ("t2", "other", "ds-a", "Barnacle fouling on turbine blades, another tenant's dataset of the same id."),
        ):
            chunks = chunk_text(doc_id, doc_id, text)
            index.add(chunks, tenant, {DATASET: dataset} if dataset else None)
        yield index


def _found(index: SourceIndex, tenants: list[str], datasets: dict[str, list[str]] | None) -> set[str]:
    return {p.source_id for p in index.search("barnacle fouling turbine blades", tenants, 10, datasets=datasets)}


def test_a_search_reads_only_the_chosen_datasets_of_the_tenant(index: SourceIndex) -> None:
    assert _found(index, ["t1"], None) == {"a-1", "b-1", "loose"}
    assert _found(index, ["t1"], {"t1": ["ds-a"]}) == {"a-1"}
    assert _found(index, ["t1"], {"t1": ["ds-a", "ds-b"]}) == {"a-1", "b-1"}
    assert _found(index, [PUBLIC_TENANT, "t1"], {"t1": ["ds-b"]}) == {"public-1", "b-1"}
    assert _found(index, ["t1"], {"t1": []}) == set()
    assert _found(index, ["t1"], {"t1": ["no-such-dataset"]}) == set()


async def test_the_search_task_carries_the_datasets_to_the_filter(index: SourceIndex) -> None:
    inp = SearchInput(question="barnacle fouling", sub_question="turbine blades", limit=10, datasets=["ds-a"])
    only_a = await search_sources(inp.model_copy(update={"sources": ["datasets"]}), "t1", index, None)
    assert {p.source_id for p in only_a.output.passages} == {"a-1"}
    with_corpus = await search_sources(inp, "t1", index, None)
    assert {p.source_id for p in with_corpus.output.passages} == {"public-1", "a-1"}
    other = await search_sources(inp.model_copy(update={"sources": ["datasets"]}), "t2", index, None)
    assert {p.source_id for p in other.output.passages} == {"other"}, "a dataset id is read within its tenant only"


def test_deleting_a_dataset_removes_its_chunks_only(index: SourceIndex) -> None:
    before_other = index.count("t2")
    index.delete_labelled("t1", {DATASET: "ds-a"})
    assert _found(index, ["t1"], None) == {"b-1", "loose"}
    assert index.count("t2") == before_other
    with pytest.raises(ValueError, match="must not be empty"):
        index.delete_labelled("t1", {})
