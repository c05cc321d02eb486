"""Pseudo-relevance feedback: the query grown with the words of its best passages, reproducibly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from services.retriever.domain.corpus import Document
from services.retriever.domain.feedback import Feedback
from services.retriever.domain.lexical import query_vector, term_id, tokenize
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents
from services.retriever.index.expansion import expanded
from services.retriever.index.points import tenant_filter

# Worded as the Python documentation words them; the question below shares only "row" with the answer.
DOCS = [
    Document(
        "csv-dictreader",
        "csv",
        "class csv.DictReader(f, fieldnames=None, restkey=None, restval=None, dialect='excel')\n\n"
        "Create an object that operates like a regular reader but maps the information in each row "
        "to a dict whose keys are given by the optional fieldnames parameter.",
    ),
    Document(
        "csv-reader",
        "csv",
        "csv.reader(csvfile, dialect='excel')\n\nReturn a reader object that will process lines from the "
        "given csvfile. Each row read from the csv file is returned as a list of strings. No automatic "
        "data type conversion is performed.",
    ),
    Document(
        "csv-writer",
        "csv",
        "csv.writer(csvfile, dialect='excel')\n\nReturn a writer object responsible for converting the "
        "user's data into delimited strings on the given file-like object. writerows() writes all the "
        "rows, each a list of values, with the current dialect.",
    ),
    Document(
        "dict",
        "Mapping types",
        "Dictionaries map hashable keys to arbitrary values. Dictionaries can be created by placing a "
        "comma-separated list of key: value pairs within braces, or by the dict constructor. "
        "Dictionaries compare equal if and only if they have the same key: value pairs.",
    ),
    Document(
        "json",
        "json",
        "json.load(fp) deserializes a JSON document read from a file to a Python object: JSON objects "
        "become dictionaries and JSON arrays become lists.",
    ),
    Document(
        "sqlite",
        "sqlite3",
        "Cursor.fetchall() fetches all remaining rows of a query result, returning a list. An empty list "
        "is returned when no rows are available.",
    ),
    Document(
        "textwrap",
        "textwrap",
        "textwrap.fill(text, width=70) wraps the single paragraph in text so every line is at most width "
        "characters long, and returns a single string containing the wrapped paragraph.",
    ),
]
QUESTION = "rows as dictionaries"


def _index(feedback: Feedback | None) -> SourceIndex:
    index = SourceIndex(QdrantClient(":memory:"), feedback=feedback)
    index.ensure_collection()
    ingest_documents(index, DOCS, PUBLIC_TENANT)
    return index


@pytest.fixture
def pair() -> Iterator[tuple[SourceIndex, SourceIndex]]:
    plain, grown = _index(None), _index(Feedback())
    yield plain, grown
    plain.client.close()
    grown.client.close()


def _rank(index: SourceIndex, doc_id: str) -> int:
    ids = [p.source_id for p in index.search(QUESTION, [PUBLIC_TENANT], len(DOCS))]
    return ids.index(doc_id) if doc_id in ids else len(DOCS)


def test_feedback_brings_the_api_a_plain_worded_question_names_nearer(pair: tuple[SourceIndex, SourceIndex]) -> None:
    plain, grown = pair
    # without feedback the reader class is last of the passages matching anything; with it, among the first four
    assert _rank(plain, "csv-dictreader") == 5
    assert _rank(grown, "csv-dictreader") <= 3


def test_feedback_is_reproducible(pair: tuple[SourceIndex, SourceIndex]) -> None:
    _, grown = pair
    again = _index(Feedback())
    try:
        assert grown.search(QUESTION, [PUBLIC_TENANT], 5) == again.search(QUESTION, [PUBLIC_TENANT], 5)
    finally:
        again.client.close()


def test_expansion_reads_only_the_tenants_searched() -> None:
    index = _index(Feedback())
    try:
        secret = "Acme payroll rows are exported as dictionaries by the zorblatt exporter of zorblatt rows."
        ingest_documents(index, [Document("acme", "Acme", secret)], "acme")
        for tenants, leaks in (([PUBLIC_TENANT], False), ([PUBLIC_TENANT, "acme"], True)):
            terms = expanded(index._sparse_points, QUESTION, Feedback(agree=1), tenant_filter(tenants), None)
            assert (term_id("zorblatt") in terms.indices) is leaks
    finally:
        index.client.close()


RANKED = [
    (tokenize("csv.reader returns each row of the csv file as a list; the reader object"), 6.0),
    (tokenize("csv.writer writes each row to the csv file with writerows"), 4.0),
    (tokenize("Dictionaries map keys to values; the dict constructor makes one"), 3.0),
    (tokenize("json objects become dictionaries"), 2.0),
    (tokenize("textwrap wraps a paragraph"), 0.5),
]


def test_expand_keeps_the_query_and_adds_lighter_terms_the_best_passages_share() -> None:
    query = tokenize(QUESTION)
    weights = Feedback(depth=5, passages=4, terms=4, weight=0.3).expand(query, RANKED)
    assert all(weights[q] == 1.0 for q in query)
    added = {t: w for t, w in weights.items() if t not in query}
    assert "csv" in added and max(w for t, w in added.items() if t != "dict") == pytest.approx(0.3)
    assert "json" not in added  # one passage alone
    assert "textwrap" not in added  # below the passages read
    assert not {"the", "as", "of"} & set(added)  # stop-words and keywords are never added


def test_a_code_spelling_of_a_query_word_joins_at_its_own_weight() -> None:
    weights = Feedback(depth=5, passages=4, terms=0, short=0.3).expand(tokenize(QUESTION), RANKED)
    assert weights["dict"] == 0.3  # "dict" begins "dictionary"
    assert set(weights) == {*tokenize(QUESTION), "dict"}


def test_expand_is_deterministic_and_degrades_to_the_query() -> None:
    feedback = Feedback(depth=5, passages=4)
    query = tokenize(QUESTION)
    assert feedback.expand(query, RANKED) == feedback.expand(list(query), list(RANKED))
    assert list(feedback.expand(query, RANKED)) == list(feedback.expand(query, RANKED))
    assert feedback.expand(query, []) == dict.fromkeys(query, 1.0)
    assert feedback.expand([], RANKED) == {}
    assert Feedback(weight=0.0, short=0.0).expand(query, RANKED) == dict.fromkeys(query, 1.0)
    assert query_vector(QUESTION).indices == sorted(term_id(t) for t in set(query))


@pytest.mark.parametrize(
    "bad", [{"passages": 0}, {"passages": 40, "depth": 30}, {"terms": -1}, {"weight": 1.5}, {"short": -0.1}]
)
def test_feedback_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Feedback(**bad)  # type: ignore[arg-type]


def test_keywords_are_never_added_in_either_spelling() -> None:
    ranked = [(tokenize("The while loop runs its else clause when the loop ends"), 1.0)] * 3
    added = set(Feedback(depth=3, passages=3).expand(tokenize("when does a loop end"), ranked))
    assert "claus" in added
    assert not {"while", "whil", "else", "els"} & added
