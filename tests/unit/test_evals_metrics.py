"""The evaluation's rulers: key-term matching, answer relevance, fusion, recall, fabrication, the summaries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contracts.work import Claim, Draft, Passage, Section, SourceRef
from evals.metrics import (
    fabricated_citations,
    fact_covered,
    fused_ranking,
    recall_at,
    relevant_claims,
    states_key_term,
    term_stated,
)
from evals.pipeline import QuestionResult
from evals.questions import Question
from evals.summary import TEST_TARGETS, by_kind, summarise


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("is", "The operator is applied."),
        ("in", "x in y tests membership"),
        ("In", "In short, it works"),
        ("yield from", "use Yield  from to delegate"),
        ("name mangling", "Private name-mangling applies"),
        (":=", "while (n := len(a)) > 10"),
        ("->", "def f() -> int: ..."),
        ("**", 'the "**" operator'),
        ("@", "a @ b multiplies matrices"),
        ("==", 'is "x == y" true'),
        ("__init__", 'the "__init__()" method'),
        ("DictReader", "rows from csv.DictReader(f)"),
        ("csv.DictReader", "use csv.DictReader."),
        ("-1**2", 'so "-1**2" results in "-1"'),
        ("`is`", 'The \u2018"is"\u2019 operator compares identity'),
        ("`is`", 'the expression "x is z or x == z" is true'),
        ("`not`", "use `not` to negate"),
    ],
)
def test_a_term_is_found_where_the_text_states_it(term: str, text: str) -> None:
    assert term_stated(term, text)


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("is", "this"),  # a word inside a word
        ("in", "print(x)"),
        ("in", "the index"),
        (":=", "expr ::= atom"),  # inside a longer operator
        ("->", "a --> b"),
        ("*", "a ** b"),
        ("**", "a *** b"),
        ("==", "x != y"),
        ("==", "x === y"),
        ("__init__", "the _init_ hook"),
        ("__init__", "__init__subclass"),
        ("DictReader", "a dictreader"),  # code is exact, case included
        ("DictReader", "DictReaders"),
        ("Counter", "a counter of events"),
        ("csv.DictReader", "csv.DictReaderX"),
        ("`is`", "This is what it is."),  # the English word, not the operator
        ("`in`", '"print(x)" prints'),
        ("`not`", "this is not code"),
    ],
)
def test_a_term_is_not_found_inside_other_words_or_operators(term: str, text: str) -> None:
    assert not term_stated(term, text)


def test_any_accepted_spelling_states_the_key_term() -> None:
    assert states_key_term(["DictReader", "csv.DictReader"], "Use csv.DictReader here.")
    assert not states_key_term(["DictReader", "csv.DictReader"], "Use the reader function.")


def _passage(doc: str, loc: str) -> Passage:
    return Passage(source_id=doc, title=doc, location=loc, text=f"text of {doc} {loc}")


def test_fusion_recall_and_fabrication_metrics() -> None:
    a, b, c = _passage("a", "1"), _passage("b", "1"), _passage("c", "1")
    ranking = fused_ranking([[a, b], [c, b]])
    assert [p.source_id for p in ranking] == ["b", "a", "c"]  # found twice beats found once
    assert recall_at(ranking, ["a", "c"], 1) == 0.0
    assert recall_at(ranking, ["a", "c"], 2) == 0.5
    assert recall_at(ranking, ["a", "c"], 3) == 1.0
    draft = _draft([Claim(text="x", citations=[1, 2])], [])
    assert fabricated_citations(draft, [a, b]) == ["a 9", "dbm 1"]  # what no search returned
    assert fact_covered("keeps it sorted", "Insert x and keep the list sorted.")
    assert not fact_covered("deep copy", "a shallow copy of the list")


def _draft(summary: list[Claim], claims: list[Claim]) -> Draft:
    return Draft(
        title="t",
        question="q",
        summary=summary,
        sections=[Section(heading="h", claims=claims)],
        sources=[
            SourceRef(number=1, source_id="a", title="a", location="1", passage="p"),
            SourceRef(number=2, source_id="a", title="a", location="9", passage="p"),
            SourceRef(number=3, source_id="dbm", title="dbm", location="1", passage="p"),
        ],
    )


def test_a_claim_is_relevant_when_it_cites_a_named_document_states_the_key_term_or_covers_a_fact() -> None:
    on_document = Claim(text="Something the right document says.", citations=[1])
    on_term = Claim(text="Use the __eq__ method.", citations=[3])
    on_fact = Claim(text="Comparisons can be chained arbitrarily.", citations=[3])
    shares_a_word = Claim(text="Shelves compare keys as strings.", citations=[3])
    draft = _draft([on_term], [on_document, on_fact, shares_a_word])
    relevant = relevant_claims(draft, ["a"], ["__eq__"], ["chained arbitrarily"])
    assert relevant == [on_term, on_document, on_fact]


def _result(kind: str, *, key: bool, summary_key: bool, recall: float, fabricated: int = 0) -> QuestionResult:
    q = Question(id=kind, kind=kind, question="q?", documents=("a",), facts=("f", "g"), key_terms=("k",))  # type: ignore[arg-type]
    return QuestionResult(
        question=q,
        sub_questions=["q?"],
        recall={5: recall, 10: recall},
        missing=[],
        claims=4,
        supported=4,
        verified_rate=1.0,
        cited=2,
        fabricated=["x 1"] * fabricated,
        facts_covered=["f"],
        facts_missed=["g"],
        unsupported=[],
        key_in_report=key,
        key_in_summary=summary_key,
        report_claims=4,
        relevant=3,
        summary="",
    )


def test_the_summary_averages_per_question_and_per_claim_and_splits_by_kind() -> None:
    results = [
        _result("api", key=True, summary_key=True, recall=1.0),
        _result("api", key=True, summary_key=False, recall=1.0),
        _result("operator", key=False, summary_key=False, recall=0.5),
    ]
    s = summarise(results)
    assert (s.questions, s.coverage, s.relevance) == (3, 0.5, 0.75)
    assert s.recall[10] == pytest.approx(2.5 / 3)
    assert s.key_in_report == pytest.approx(2 / 3) and s.key_in_summary == pytest.approx(1 / 3)
    kinds = by_kind(results)
    assert list(kinds) == ["operator", "api"]  # the set's order of kinds
    assert (kinds["api"].key_in_report, kinds["api"].key_in_summary) == (1.0, 0.5)
    assert kinds["operator"].recall[10] == 0.5


def test_every_missed_target_of_the_test_split_is_named() -> None:
    good = [_result("api", key=True, summary_key=True, recall=1.0)] * 10
    assert TEST_TARGETS.misses(summarise(good)) == []
    poor = [*good[:6], *[_result("api", key=False, summary_key=False, recall=0.5, fabricated=1)] * 4]
    misses = TEST_TARGETS.misses(summarise(poor))
    assert [m.split(" 0.")[0].split(" 4")[0] for m in misses] == [
        "recall@10",
        "key term in report",
        "key term in summary",
        "fabricated citations",
    ]
    unsupported = [replace(r, supported=3) for r in good]
    assert TEST_TARGETS.misses(summarise(unsupported)) == ["citation support 0.750 < 0.98"]
