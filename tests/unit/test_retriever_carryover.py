"""An upgraded text analysis starts a fresh collection; the tenants' chunks are carried over to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from services.retriever.domain.chunking import Chunk
from services.retriever.index import DATASET, PUBLIC_TENANT, SourceIndex, close_client, collection_for, open_client
from services.retriever.index.carryover import carry_over, predecessors

UPLOAD = Chunk(
    doc_id="upload:handbook",
    title="Handbook",
    location="p. 3",
    text="The __enter__ method of the vault returns the ledger; csv.DictReader reads its rows.",
    index=0,
)
CORPUS = Chunk(doc_id="pydoc:module:json", title="json", location="json", text="JSON encoder and decoder.", index=0)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[QdrantClient]:
    opened = open_client(path=tmp_path / "qdrant")
    yield opened
    close_client(opened)


def _names(client: QdrantClient) -> set[str]:
    return {c.name for c in client.get_collections().collections}


@pytest.mark.parametrize(
    ("existing", "collection", "expected"),
    [
        (["sources", "sources-code1", "memory"], "sources-code1", ["sources"]),
        (["sources-code0", "sources-code1", "sources-hybrid-m-8"], "sources-code1", ["sources-code0"]),
        (
            ["sources-hybrid-m-8", "sources-code1-hybrid-m-8", "sources-hybrid-n-8"],
            "sources-code1-hybrid-m-8",
            ["sources-hybrid-m-8"],
        ),
        (["memory", "memory-code1", "sources"], "memory-code1", ["memory"]),
        (["sourcesx", "my-sources", "sources-code1"], "sources-code1", []),
    ],
)
def test_predecessors_share_the_base_and_the_embedder(
    existing: list[str], collection: str, expected: list[str]
) -> None:
    assert predecessors(existing, collection, "code1") == expected


def test_a_tenants_chunks_are_carried_over_and_the_old_collection_goes(client: QdrantClient) -> None:
    old = SourceIndex(client, collection="sources", label_fields=(DATASET,), feedback=None)
    old.ensure_collection()
    old.add([UPLOAD], "tenant-a", {DATASET: "ds-1"})
    old.add([CORPUS], PUBLIC_TENANT)

    new = SourceIndex(client, collection=collection_for(None), label_fields=(DATASET,), feedback=None)
    new.ensure_collection()
    assert carry_over(new) == 1

    assert "sources" not in _names(client)
    hits = new.search("__enter__ ledger", ["tenant-a"], 5, datasets={"tenant-a": ["ds-1"]})
    assert [(h.source_id, h.location) for h in hits] == [("upload:handbook", "p. 3")]
    assert hits[0].text == UPLOAD.text
    # The corpus is the seeding's to write again, and another tenant still sees nothing of tenant-a's.
    assert new.search("JSON encoder", [PUBLIC_TENANT], 5) == []
    assert new.search("__enter__ ledger", ["tenant-b"], 5) == []
    # Done once: a later start finds no predecessor, so a chunk deleted since cannot come back.
    assert carry_over(new) == 0


def test_memory_is_carried_over_whole(client: QdrantClient) -> None:
    old = SourceIndex(client, collection="memory", label_fields=("run_id",), feedback=None)
    old.ensure_collection()
    old.add([UPLOAD], "tenant-a", {"run_id": "run-1"})
    new = SourceIndex(client, collection=collection_for(None, "memory"), label_fields=("run_id",), feedback=None)
    new.ensure_collection()
    assert carry_over(new, keep=lambda _: True) == 1
    hits = new.search("vault ledger", ["tenant-a"], 5, labels={"run_id": "run-1"})
    assert [h.source_id for h in hits] == ["upload:handbook"]


def test_a_carried_chunk_keeps_its_lead_and_the_lead_is_no_label(client: QdrantClient) -> None:
    led = Chunk(
        doc_id="upload:tools",
        title="Tools",
        location="§ prune(path)",
        text="prune(path)\n\nRecursively delete a directory tree. The path must exist.",
        index=0,
        heading="prune(path)",
        lead="Recursively delete a directory tree.",
    )
    old = SourceIndex(client, collection="sources", label_fields=(DATASET,), feedback=None)
    old.ensure_collection()
    old.add([led], "tenant-a", {DATASET: "ds-1"})
    new = SourceIndex(client, collection=collection_for(None), label_fields=(DATASET,), feedback=None)
    new.ensure_collection()
    assert carry_over(new) == 1
    (point,), _ = client.scroll(new.collection, with_payload=True)
    assert point.payload is not None and point.payload["lead"] == led.lead
    assert new.count("tenant-a", {DATASET: "ds-1"}) == 1  # "lead" was not read as a label of its own
