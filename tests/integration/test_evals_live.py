"""`python -m evals` through an OpenAI-compatible model server on 127.0.0.1 (QUARRY_LLM_BASE_URL).

The server is the local fake model (tests/fakes/llm.py): it plans from the question, writes notes
quoted from the numbered passages and summaries from the notes. For one question it also invents a
sentence citing a passage it was given, which the analyst's citation check must cut. The figures
must be those of what the model returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from evals.__main__ import main
from evals.metrics import states_key_term
from evals.questions import Question, load_splits
from evals.runner import Configuration, run
from services.analyst.bootstrap import AnalystSettings, chat_client
from services.retriever.domain.corpus import sample_corpus
from tests.fakes.llm import API_KEY, FakeLlm, _question, serve

INVENTED = "The standard library was first written on the far side of the moon in 1066"
SUMMARY_ASKED = "You summarise research notes"


class RecordingLlm(FakeLlm):
    """The fake model, keeping every answer it gives by question; one question's notes get an invention."""

    def __init__(self, invent_for: str) -> None:
        super().__init__(latency_s=(0.0, 0.01))
        self.invent_for = invent_for
        self.summaries: dict[str, str] = {}
        self.plans: dict[str, list[str]] = {}

    async def answer(self, request: Request) -> JSONResponse:
        body = await request.json()
        response = await super().answer(request)
        reply = json.loads(bytes(response.body))
        content: str = reply["choices"][0]["message"]["content"]
        system = body["messages"][0]["content"]
        question = _question("\n".join(m["content"] for m in body["messages"]))
        if SUMMARY_ASKED in system:
            self.summaries[question] = content
        elif "You write research notes" in system:
            if question == self.invent_for:
                content += f" {INVENTED} [1]."
        else:
            self.plans[question] = json.loads(content)["sub_questions"]
        reply["choices"][0]["message"]["content"] = content
        return JSONResponse(reply)


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    corpus_ids = {d.doc_id for d in sample_corpus()}
    dev = load_splits(corpus_ids=corpus_ids)["dev"]
    # Questions whose notes the fake model writes on the question: a draft with nothing on it is
    # written extractively instead (the analyst's fallback), which is not what this test is about.
    return [dev[0], dev[2], next(q for q in dev if q.kind == "api")]


@pytest.fixture
def model(questions: list[Question], monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingLlm]:
    llm = RecordingLlm(invent_for=questions[1].question)
    with serve(llm) as base_url:
        monkeypatch.setenv("QUARRY_LLM_BASE_URL", base_url)
        monkeypatch.setenv("QUARRY_LLM_API_KEY", API_KEY)
        monkeypatch.setenv("QUARRY_LLM_MODEL", "eval-fake-model")
        yield llm


async def test_the_live_eval_scores_what_the_model_wrote(model: RecordingLlm, questions: list[Question]) -> None:
    client = chat_client(AnalystSettings(mode="live"))
    assert client is not None
    try:
        outcome = await run(Configuration("sparse (default)"), sample_corpus(), {"dev": questions}, client)
    finally:
        await client.aclose()
    results = outcome.splits["dev"].results
    assert [r.question.id for r in results] == [q.id for q in questions]
    for r in results:
        asked = r.question.question
        # The model planned: its sub-questions are the ones searched, not the offline planner's.
        assert r.sub_questions == model.plans[asked]
        assert model.synthesis_calls[f"{asked} | summary"] == 1
        # The summary is what the model summarised, so the key term is judged on the model's words.
        assert r.summary and set(re.findall(r"\w+", r.summary)) <= set(re.findall(r"\w+", model.summaries[asked]))
        assert r.key_in_summary == states_key_term(r.question.key_terms, model.summaries[asked])
        assert "[99]" not in r.summary and "cheese" not in r.summary
    honest, inventive = results[0], results[1]
    # The invented sentence cites a passage it was given, so only the citation check catches it:
    # it is counted as written and unsupported, and never reaches the report.
    assert any(INVENTED in u for u in inventive.unsupported)
    assert inventive.supported < inventive.claims
    assert honest.supported == honest.claims and not honest.unsupported
    delivered = outcome.splits["dev"].summary
    assert delivered.citation_support == sum(r.supported for r in results) / sum(r.claims for r in results) < 1.0
    assert delivered.fabricated == 0
    assert delivered.key_in_report == sum(r.key_in_report for r in results) / len(results)


def test_python_m_evals_goes_live_when_a_model_is_configured(
    model: RecordingLlm, questions: list[Question], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--split", "dev", "--questions", "3"]) == 0  # no test split, no targets to miss
    printed = capsys.readouterr().out
    assert "live (eval-fake-model at http://127.0.0.1:" in printed
    assert "key term in summary" in printed and "answer relevance" in printed
    for q in questions[:2]:
        assert model.synthesis_calls[f"{q.question} | summary"] == 1
        assert model.calls[q.question] == 1  # planned by the model, once
