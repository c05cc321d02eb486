"""Contracts <-> the retriever's own types: hits as passages, a run's findings as documents for memory."""

from __future__ import annotations

from contracts.work import Claim, Draft, IndexInput, Passage, SourceRef
from services.retriever.domain.corpus import Document
from services.retriever.providers import SearchHit

SUMMARY_HEADING = "Summary"


def passage_of(hit: SearchHit) -> Passage:
    """A search hit on an indexed chunk as the passage a task's output cites."""
    return Passage(source_id=hit.url, title=hit.title, location=hit.location or "", text=hit.snippet, score=hit.score)


def memory_doc_id(run_id: str, n: int) -> str:
    return f"run:{run_id}:{n}"


def memory_documents(inp: IndexInput) -> list[Document]:
    """One document for the summary (n = 0) and one per section (n = 1, 2, ...); empty ones are left out."""
    draft = inp.draft
    parts = [(SUMMARY_HEADING, draft.summary), *((section.heading, section.claims) for section in draft.sections)]
    documents: list[Document] = []
    for n, (heading, claims) in enumerate(parts):
        if not claims:
            continue
        documents.append(
            Document(
                doc_id=memory_doc_id(inp.run_id, n),
                title=f"{draft.title} — {heading}",
                text=_text(inp.question, claims, draft),
            )
        )
    return documents


def _text(question: str, claims: list[Claim], draft: Draft) -> str:
    # Each claim is a paragraph of its own, so a long section chunks between claims, never inside one.
    paragraphs = [f"Question: {question}"]
    paragraphs += [f"{claim.text} {_markers(claim)}" for claim in claims]
    sources = _cited_sources(claims, draft.sources)
    if sources:
        # One paragraph, so the list stays together and a hit on it names where each finding came from.
        lines = [f"[{s.number}] {s.title}, {s.location} ({s.source_id})" for s in sources]
        paragraphs.append("\n".join(["Sources:", *lines]))
    return "\n\n".join(paragraphs)


def _markers(claim: Claim) -> str:
    return "".join(f"[{number}]" for number in dict.fromkeys(claim.citations))


def _cited_sources(claims: list[Claim], sources: list[SourceRef]) -> list[SourceRef]:
    cited = {number for claim in claims for number in claim.citations}
    # A number with no source behind it keeps its marker but has nothing to list; verification reports it.
    return sorted((s for s in sources if s.number in cited), key=lambda s: s.number)
