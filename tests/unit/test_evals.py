"""The evaluation set and a slice of `make eval`: the default offline path must keep its targets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from contracts.work import Claim, Draft, Passage, Section, SourceRef
from evals.metrics import fabricated_citations, fact_covered, fused_ranking, recall_at
from evals.questions import EvalSetError, load_questions
from evals.runner import TARGET_CITATION_SUPPORT, TARGET_RECALL_AT_10, Configuration, run
from services.retriever.domain.corpus import Document, sample_corpus


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return sample_corpus()


def test_the_set_has_thirty_varied_questions_over_real_documents(corpus: list[Document]) -> None:
    questions = load_questions(corpus_ids={d.doc_id for d in corpus})
    assert len(questions) >= 30
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == {"single", "multi", "paraphrase"} and min(kinds.values()) >= 8
    assert all(len(q.documents) >= 2 for q in questions if q.kind == "multi")
    # Every fact is taken from the documents the question names, so a perfect answer could cover it.
    texts = {d.doc_id: d.text for d in corpus}
    for q in questions:
        for fact in q.facts:
            assert any(fact_covered(fact, texts[d]) for d in q.documents), (q.id, fact)


def test_a_malformed_set_is_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "q.yaml"
    entry = "questions:\n  - id: a\n    kind: {kind}\n    question: Why?\n    documents: [{doc}]\n    facts: [x]\n"
    bad.write_text(entry.format(kind="single", doc="nope"))
    with pytest.raises(EvalSetError, match="not in the corpus"):
        load_questions(bad, corpus_ids={"pydoc:module:json"})
    bad.write_text(entry.format(kind="guess", doc="pydoc:module:json"))
    with pytest.raises(EvalSetError, match="kind must be one of"):
        load_questions(bad)
    bad.write_text("questions: [unclosed")
    with pytest.raises(EvalSetError, match="not valid YAML"):
        load_questions(bad)


def test_a_slice_of_the_evaluation_meets_the_default_targets(corpus: list[Document]) -> None:
    questions = load_questions(corpus_ids={d.doc_id for d in corpus})[::6]  # 7 questions, every kind
    outcome = run(Configuration("sparse (default)"), corpus, questions)
    s = outcome.summary
    assert outcome.chunks > 1500 and s.questions == len(questions) and s.claims > 0
    assert s.recall[10] >= TARGET_RECALL_AT_10, [(r.question.id, r.missing) for r in outcome.results]
    assert s.citation_support >= TARGET_CITATION_SUPPORT
    assert s.fabricated_rate == 0.0
    assert all(r.verified_rate == 1.0 for r in outcome.results if r.claims)
    assert 0.0 < s.coverage <= 1.0


def _passage(doc: str, loc: str) -> Passage:
    return Passage(source_id=doc, title=doc, location=loc, text=f"text of {doc} {loc}")


def test_fusion_recall_and_fabrication_metrics() -> None:
    a, b, c = _passage("a", "1"), _passage("b", "1"), _passage("c", "1")
    ranking = fused_ranking([[a, b], [c, b]])
    assert [p.source_id for p in ranking] == ["b", "a", "c"]  # found twice beats found once
    assert recall_at(ranking, ["a", "c"], 1) == 0.0
    assert recall_at(ranking, ["a", "c"], 2) == 0.5
    assert recall_at(ranking, ["a", "c"], 3) == 1.0
    draft = Draft(
        title="t",
        question="q",
        summary=[Claim(text="x", citations=[1, 2])],
        sections=[Section(heading="h", claims=[])],
        sources=[
            SourceRef(number=1, source_id="a", title="a", location="1", passage="p"),
            SourceRef(number=2, source_id="a", title="a", location="9", passage="p"),
        ],
    )
    assert fabricated_citations(draft, [a, b]) == ["a 9"]
    assert fact_covered("keeps it sorted", "Insert x and keep the list sorted.")
    assert not fact_covered("deep copy", "a shallow copy of the list")
