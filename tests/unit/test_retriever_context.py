"""A sub-question searched in the context of its question: its own terms lead, the question's
other terms keep it on topic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from quarry_text import frames
from services.retriever.domain.corpus import Document
from services.retriever.domain.feedback import Feedback
from services.retriever.domain.lexical import CONTEXT_SHARE, CONTEXT_WEIGHT, in_context, own_terms, tokenize
from services.retriever.index import PUBLIC_TENANT, SourceIndex, ingest_documents

QUESTION = "How can I hash bytes with SHA or MD5 into a fixed size digest and then encode the result as text?"
STEP = "How can I encode the result as text?"
DOCS = [
    Document("hashing", "hashing", "Hash bytes with SHA or MD5 into a digest of fixed size."),
    Document("textcodec", "textcodec", "Encode any result as text."),
    Document("weather", "weather", "Forecasts for the coast, by the hour."),
]


@pytest.fixture(params=[None, Feedback()], ids=["plain", "feedback"])
def index(request: pytest.FixtureRequest) -> Iterator[SourceIndex]:
    opened = SourceIndex(QdrantClient(":memory:"), feedback=request.param, evidence=None)
    opened.ensure_collection()
    ingest_documents(opened, DOCS, PUBLIC_TENANT)
    yield opened
    opened.close()


def test_in_context_weighs_the_questions_other_terms_lower() -> None:
    weights = in_context(STEP, QUESTION)
    own = set(tokenize(STEP))
    assert set(weights) == own | set(tokenize(QUESTION))
    # its own terms lead; "as" reads as English here, so it weighs as a framing word does
    assert {t: weights[t] for t in own} == own_terms(STEP)
    assert own_terms(STEP)["as"] == frames.WEIGHT and own_terms(STEP)["encod"] == 1.0
    others = [w for t, w in weights.items() if t not in own]
    assert others and all(0 < w <= CONTEXT_WEIGHT for w in others)
    assert sum(others) <= CONTEXT_SHARE * len(own) + 1e-9
    # A short context keeps each of its terms at CONTEXT_WEIGHT; the query alone is itself.
    assert in_context("encode text", "encode text as base64")["base64"] == CONTEXT_WEIGHT
    assert in_context(STEP, STEP) == own_terms(STEP)


def test_a_step_searched_in_context_finds_what_the_step_asks_first(index: SourceIndex) -> None:
    # The question alone (or the step with the question's terms at full weight) leads with hashing,
    # which holds more of the question's words; the step in context leads with the encoder.
    whole = index.search(f"{STEP} {QUESTION}", [PUBLIC_TENANT], 3)
    assert whole[0].source_id == "hashing"
    in_its_context = index.search(STEP, [PUBLIC_TENANT], 3, context=QUESTION)
    assert in_its_context[0].source_id == "textcodec"
    # The context still counts: the question's other document comes before what neither names.
    assert [p.source_id for p in in_its_context][:2] == ["textcodec", "hashing"]
