"""Document evidence: a document answering a question in several of its passages rises above one lucky passage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from contracts.agents import AgentConfig
from contracts.work import Passage
from services.retriever.domain.chunking import Chunk, chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.domain.evidence import Evidence
from services.retriever.domain.ranking import EVIDENCE, ranking_of
from services.retriever.index import PUBLIC_TENANT, SourceIndex


def _sections(*parts: tuple[str, str]) -> str:
    return "\n\n".join(f"{heading}\n{'-' * len(heading)}\n\n{body}" for heading, body in parts)


# The embedded database answers the question across its sections, none of which holds many of its
# words; each other module holds a few of them in one passage, about something else.
DOCS = [
    Document(
        "tinydb",
        "tinydb",
        _sections(
            ("tinydb", "The tinydb module stores tables of records in one database file."),
            ("Connection.execute(sql)", "Run one SQL statement against the database and return a cursor."),
            ("Cursor.fetchall()", "Return every remaining row of the query result as a list of tuples."),
            ("Connection.commit()", "Make the pending transaction permanent."),
        ),
    ),
    *(
        Document(name, name, _sections((f"{name}.open(path)", f"{words}, one record a line.")))
        for name, words in (
            ("logfile", "A handler that keeps a program's log records in a local file"),
            ("cachefile", "Keep data a program computed in a single local file between runs"),
            ("shellrun", "Run a program in a child process and keep its output as data"),
            ("config", "Read a program's settings from a single local file"),
            ("journal", "Append a program's events to a single file"),
            ("urlquery", "Parse the query string of a URL into data"),
        )
    ),
]
QUESTION = "Where can a program keep its records in a single local file and ask for them in SQL?"


def _index(evidence: Evidence | None) -> SourceIndex:
    index = SourceIndex(QdrantClient(":memory:"), feedback=None, evidence=evidence)
    index.ensure_collection()
    index.add((chunk for document in DOCS for chunk in _chunks(document)), PUBLIC_TENANT)
    return index


def _chunks(document: Document) -> list[Chunk]:
    # small chunks, so that each section is a passage of its own, as an API's entry in a long module is
    return chunk_document(document, min_chars=40, max_chars=200)


@pytest.fixture
def pair() -> Iterator[tuple[SourceIndex, SourceIndex]]:
    # nothing kept in place: in a corpus this small, the best passages are all there is
    plain, weighed = _index(None), _index(Evidence(keep=0))
    yield plain, weighed
    plain.client.close()
    weighed.client.close()


def _sources(index: SourceIndex, limit: int) -> list[str]:
    return [p.source_id for p in index.search(QUESTION, [PUBLIC_TENANT], limit)]


def test_the_corpus_splits_the_answer_over_several_passages() -> None:
    assert len(_chunks(DOCS[0])) == 4


def test_a_document_answering_in_several_passages_rises_above_single_lucky_ones(
    pair: tuple[SourceIndex, SourceIndex],
) -> None:
    plain, weighed = pair
    assert _sources(plain, 7) == ["cachefile", "logfile", "config", "journal", "tinydb", "shellrun", "tinydb"]
    # its best passage passes a single lucky one; its second falls behind every other document's first
    others = ["journal", "shellrun", "urlquery"]
    assert _sources(weighed, 8) == ["cachefile", "logfile", "config", "tinydb", *others, "tinydb"]


def test_evidence_keeps_the_search_reproducible_and_its_scores_falling(pair: tuple[SourceIndex, SourceIndex]) -> None:
    _, weighed = pair
    first = weighed.search(QUESTION, [PUBLIC_TENANT], 5)
    assert first == weighed.search(QUESTION, [PUBLIC_TENANT], 5)
    scores = [p.score for p in first]
    assert scores == sorted(scores, reverse=True) and len(first) == 5


def _passage(doc: str, n: int, score: float) -> Passage:
    return Passage(source_id=doc, title=doc, location=f"§ {n}", text=f"{doc} part {n}", score=score)


# "a" has the best single passage and little else; "b" has the next best three, after "c"'s one.
RANKED = [_passage("a", 1, 10.0), _passage("c", 1, 9.5), _passage("b", 1, 9.0), _passage("b", 2, 8.5)]
RANKED += [_passage("b", 3, 8.0), _passage("a", 2, 1.0)]


def test_only_a_documents_best_passage_is_lifted() -> None:
    order = [(p.source_id, p.location) for p in Evidence(best=2, keep=0).rerank(RANKED, 6)]
    # b's votes (9 + 8.5) beat a's (10 + 1) and c's (9.5): its first passage passes c's, not its others
    assert order == [("a", "§ 1"), ("b", "§ 1"), ("c", "§ 1"), ("b", "§ 2"), ("b", "§ 3"), ("a", "§ 2")]


def test_the_first_passages_kept_stay_first() -> None:
    order = [(p.source_id, p.location) for p in Evidence(best=2, keep=2).rerank(RANKED, 6)]
    assert order[:2] == [("a", "§ 1"), ("c", "§ 1")]
    assert order[2] == ("b", "§ 1")  # b's first passage still leads the rest
    assert Evidence(keep=6).rerank(RANKED, 6) == RANKED


def test_rerank_keeps_scores_falling_cuts_to_the_limit_and_degrades_to_the_search() -> None:
    lifted = Evidence().rerank(RANKED, 3)
    assert len(lifted) == 3 and lifted[0] == RANKED[0]
    assert all(a.score >= b.score for a, b in itertools.pairwise(lifted))
    assert Evidence(weight=0.0).rerank(RANKED, 4) == RANKED[:4]
    assert Evidence().rerank([], 5) == []
    assert Evidence(best=1, depth=1).rerank(RANKED, 6) == RANKED[:1]  # only what was read as votes


@pytest.mark.parametrize("bad", [{"depth": 0}, {"best": 0}, {"keep": -1}, {"weight": 1.5}, {"weight": -0.1}, {"k": -1}])
def test_evidence_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Evidence(**bad)  # type: ignore[arg-type]


def test_a_ranker_version_may_turn_evidence_off() -> None:
    def config(**parameters: object) -> AgentConfig:
        return AgentConfig.model_validate({"mode": "offline", "parameters": parameters})

    assert ranking_of(config()).evidence == EVIDENCE
    assert ranking_of(config(document_evidence=False)).evidence is None
