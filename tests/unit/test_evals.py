"""The evaluation set's two splits and a slice of `make eval`: the default offline path keeps its floor on dev."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals.metrics import fact_covered, states_key_term
from evals.questions import KINDS, SPLITS, EvalSetError, Question, load_questions, load_splits
from evals.runner import Configuration, run
from services.retriever.domain.corpus import Document, sample_corpus

# What the offline default must keep on the dev slice below; the test split's targets
# (evals.summary.TEST_TARGETS) are the goal and are not asserted here.
FLOOR_RECALL_AT_10 = 0.8
FLOOR_CITATION_SUPPORT = 0.95
# The dev split opens with the 40 questions the project tuned on before the splits existed.
TUNED_BEFORE_THE_SPLITS = 40


@pytest.fixture(scope="module")
def corpus() -> list[Document]:
    return sample_corpus()


@pytest.fixture(scope="module")
def splits(corpus: list[Document]) -> dict[str, list[Question]]:
    return load_splits(corpus_ids={d.doc_id for d in corpus})


def test_the_test_split_has_at_least_thirteen_questions_of_every_kind(splits: dict[str, list[Question]]) -> None:
    test = Counter(q.kind for q in splits["test"])
    assert set(test) == set(KINDS) and min(test.values()) >= 13
    assert len(splits["test"]) >= 65


def test_the_dev_split_can_tune_every_kind_and_the_whole_set_is_large_enough(
    splits: dict[str, list[Question]],
) -> None:
    dev = Counter(q.kind for q in splits["dev"])
    assert set(dev) == set(KINDS) and dev["operator"] >= 6 and dev["api"] >= 6
    assert len(splits["dev"]) >= TUNED_BEFORE_THE_SPLITS + 20
    assert sum(len(qs) for qs in splits.values()) >= 125


def test_no_question_is_in_both_splits(splits: dict[str, list[Question]]) -> None:
    dev, test = splits["dev"], splits["test"]
    assert not {q.id for q in dev} & {q.id for q in test}
    assert not {q.question.casefold() for q in dev} & {q.question.casefold() for q in test}


def test_every_question_can_be_answered_from_the_documents_it_names(
    corpus: list[Document], splits: dict[str, list[Question]]
) -> None:
    texts = {d.doc_id: d.text for d in corpus}
    for q in (q for qs in splits.values() for q in qs):
        assert len(q.documents) >= 2 if q.kind == "multi" else len(q.documents) == 1, q.id
        # Every fact and the key term are taken from the documents, so a perfect answer could state them.
        for fact in q.facts:
            assert any(fact_covered(fact, texts[d]) for d in q.documents), (q.id, fact)
        assert any(states_key_term(q.key_terms, texts[d]) for d in q.documents), (q.id, q.key_terms)


def test_an_api_question_does_not_give_away_the_name_it_asks_for(splits: dict[str, list[Question]]) -> None:
    api = [q for qs in splits.values() for q in qs if q.kind == "api"]
    assert api and not [q.id for q in api if states_key_term(q.key_terms, q.question)]


ENTRY = "  - id: {id}\n    kind: {kind}\n    question: {question}\n    documents: [{doc}]\n    facts: [x]\n{keys}"
KEYS = "    key_terms: [dumps]\n"


def _write(path: Path, **fields: str) -> Path:
    values = {"id": "a", "kind": "single", "question": "Why?", "doc": "pydoc:module:json", "keys": KEYS} | fields
    path.write_text("questions:\n" + ENTRY.format(**values))
    return path


def test_a_malformed_set_is_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "q.yaml"
    with pytest.raises(EvalSetError, match="not in the corpus"):
        load_questions(_write(bad, doc="nope"), corpus_ids={"pydoc:module:json"})
    with pytest.raises(EvalSetError, match="kind must be one of"):
        load_questions(_write(bad, kind="guess"))
    with pytest.raises(EvalSetError, match="expected exactly the fields"):
        load_questions(_write(bad, keys=""))
    with pytest.raises(EvalSetError, match="key_terms must be a non-empty list"):
        load_questions(_write(bad, keys="    key_terms: []\n"))
    bad.write_text("questions: [unclosed")
    with pytest.raises(EvalSetError, match="not valid YAML"):
        load_questions(bad)


def test_a_question_in_two_splits_is_refused(tmp_path: Path) -> None:
    dev = _write(tmp_path / "dev.yaml", id="a", question="What is JSON?")
    with pytest.raises(EvalSetError, match="repeats 'a' of dev"):
        load_splits({"dev": dev, "test": _write(tmp_path / "test.yaml", id="a", question="Other?")})
    with pytest.raises(EvalSetError, match="repeats 'what is json\\?' of dev"):
        load_splits({"dev": dev, "test": _write(tmp_path / "test.yaml", id="b", question="What is  JSON?")})
    assert set(load_splits({"dev": dev, "test": _write(tmp_path / "t.yaml", id="b", question="Else?")})) == {
        "dev",
        "test",
    }
    assert set(SPLITS) == {"dev", "test"}


async def test_a_slice_of_the_dev_split_keeps_the_offline_floor(
    corpus: list[Document], splits: dict[str, list[Question]]
) -> None:
    questions = splits["dev"][:TUNED_BEFORE_THE_SPLITS:6]  # 7 questions, every original kind
    outcome = await run(Configuration("sparse (default)"), corpus, {"dev": questions})
    split = outcome.splits["dev"]
    s = split.summary
    assert outcome.chunks > 1500 and s.questions == len(questions) and s.claims > 0
    assert s.recall[10] >= FLOOR_RECALL_AT_10, [(r.question.id, r.missing) for r in split.results]
    assert s.citation_support >= FLOOR_CITATION_SUPPORT
    assert s.fabricated == 0 and s.fabricated_rate == 0.0
    assert all(r.verified_rate == 1.0 for r in split.results if r.claims)
    assert 0.0 < s.coverage <= 1.0 and 0.0 < s.relevance <= 1.0
    for r in split.results:
        # The summary is part of the report: stating the term there states it in the report.
        assert r.key_in_report or not r.key_in_summary, r.question.id
        assert 0 <= r.relevant <= r.report_claims <= r.claims
    assert set(split.kinds) == {q.kind for q in questions}
    assert sum(k.questions for k in split.kinds.values()) == s.questions
