"""One question through the offline research pipeline, in process, on the services' own code.

The steps are the run's: the analyst plans sub-questions; the retriever searches its index once per
sub-question (the query the retriever's search task builds, both tenants' corpora); the analyst
screens and collects the findings, synthesises a cited draft, cuts what its sources do not back
(the synthesise task's citation check) and verifies the result (the verify task). Only the bus
and the orchestrator's bookkeeping are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.work import CollectInput, Passage, PlanInput, SearchOutput, SynthesiseInput, VerifyInput
from evals.metrics import claims_text, fabricated_citations, fact_covered, fused_ranking, recall_at
from evals.questions import Question
from services.analyst.application.screening import screen_findings
from services.analyst.domain.collect import collect
from services.analyst.domain.planning import plan
from services.analyst.domain.synthesis import synthesise
from services.analyst.domain.verify import drop_unsupported, verify
from services.retriever.index import PUBLIC_TENANT, SourceIndex

# What a run asks of each search (the orchestrator's PASSAGES_PER_SEARCH) and of synthesis
# (the REST API's defaults), so the figures describe a run as users get it.
PASSAGES_PER_SEARCH = 8
DEPTH = 2
MAX_SOURCES = 8
EVAL_TENANT = "eval-tenant"


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    sub_questions: list[str]
    recall: dict[int, float]
    missing: list[str]
    claims: int
    supported: int
    verified_rate: float
    cited: int
    fabricated: list[str]
    facts_covered: list[str]
    facts_missed: list[str]
    unsupported: list[str]


def search_query(sub_question: str, question: str) -> str:
    """The text the retriever's search task searches for (services/retriever/handlers.py)."""
    return f"{sub_question} {question}"


def evaluate(index: SourceIndex, q: Question, ks: tuple[int, ...] = (5, 10)) -> QuestionResult:
    """Run one question end to end and score it."""
    subs = plan(PlanInput(question=q.question, depth=DEPTH)).sub_questions
    limit = max(PASSAGES_PER_SEARCH, *ks)
    results = [index.search(search_query(sub, q.question), [EVAL_TENANT, PUBLIC_TENANT], limit) for sub in subs]
    ranking = fused_ranking(results)
    recall = {k: recall_at(ranking, q.documents, k) for k in ks}
    top = {p.source_id for p in ranking[: max(ks)]}

    findings = [
        SearchOutput(sub_question=s, passages=r[:PASSAGES_PER_SEARCH]) for s, r in zip(subs, results, strict=True)
    ]
    screened, _ = screen_findings(findings)
    collected = collect(CollectInput(question=q.question, findings=screened))
    written = synthesise(
        SynthesiseInput(question=q.question, sub_questions=subs, findings=collected.findings, max_sources=MAX_SOURCES)
    ).draft
    draft, check = drop_unsupported(written)
    verified = verify(VerifyInput(draft=draft))
    retrieved: list[Passage] = [p for r in results for p in r]
    answer = claims_text(draft)
    covered = [f for f in q.facts if fact_covered(f, answer)]
    return QuestionResult(
        question=q,
        sub_questions=subs,
        recall=recall,
        missing=[d for d in q.documents if d not in top],
        claims=check.checked,
        supported=check.supported,
        verified_rate=verified.support_rate,
        cited=len(draft.sources),
        fabricated=fabricated_citations(draft, retrieved),
        facts_covered=covered,
        facts_missed=[f for f in q.facts if f not in covered],
        unsupported=[u.text for u in check.unsupported],
    )


@dataclass(frozen=True)
class Summary:
    questions: int
    recall: dict[int, float]
    recall_by_kind: dict[str, float]
    citation_support: float
    coverage: float
    fabricated_rate: float
    claims: int
    cited: int


def summarise(results: list[QuestionResult], k_for_kinds: int = 10) -> Summary:
    """Recall is averaged over questions; support over claims, coverage over facts, fabrication over cited sources."""
    if not results:
        raise ValueError("no results to summarise")
    ks = results[0].recall.keys()
    claims = sum(r.claims for r in results)
    facts = sum(len(r.question.facts) for r in results)
    cited = sum(r.cited for r in results)
    kinds: dict[str, list[float]] = {}
    for r in results:
        kinds.setdefault(r.question.kind, []).append(r.recall[k_for_kinds])
    return Summary(
        questions=len(results),
        recall={k: sum(r.recall[k] for r in results) / len(results) for k in ks},
        recall_by_kind={kind: sum(v) / len(v) for kind, v in sorted(kinds.items())},
        citation_support=sum(r.supported for r in results) / claims if claims else 0.0,
        coverage=sum(len(r.facts_covered) for r in results) / facts,
        fabricated_rate=sum(len(r.fabricated) for r in results) / cited if cited else 0.0,
        claims=claims,
        cited=cited,
    )
