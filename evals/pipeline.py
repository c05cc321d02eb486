"""One question through the research pipeline, in process, on the services' own code.

The steps are the run's, each through the analyst's own task entry point (`execute`): the analyst
plans sub-questions; the retriever searches its index once per sub-question (the query the
retriever's search task builds, both tenants' corpora); the analyst screens and collects the
findings, synthesises a cited draft and cuts what its sources do not back (the synthesise task's
citation check), and the verify check scores the result. Offline the analyst's rules plan and
write; given a model client (live), the model does, exactly as the analyst runs it. Only the bus
and the orchestrator's bookkeeping are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.agents import COMPONENT_OF_TASK
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskKind
from contracts.work import (
    CollectOutput,
    Passage,
    PlanOutput,
    SearchOutput,
    SynthesiseOutput,
    VerifyInput,
)
from evals.agents import EvalAgents
from evals.metrics import (
    claims_text,
    fabricated_citations,
    fact_covered,
    fused_ranking,
    recall_at,
    relevant_claims,
    report_claims,
    states_key_term,
)
from evals.questions import Question
from services.analyst.application.tasks import execute
from services.analyst.domain.verify import verify
from services.analyst.llm import ChatClient
from services.retriever.index import PUBLIC_TENANT, SourceIndex

# What a run asks of each search (the orchestrator's PASSAGES_PER_SEARCH) and of synthesis
# (the REST API's defaults), so the figures describe a run as users get it.
PASSAGES_PER_SEARCH = 10
DEPTH = 2
MAX_SOURCES = 8
EVAL_TENANT = "eval-tenant"


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    sub_questions: list[str]
    recall: dict[int, float]
    missing: list[str]
    claims: int  # as written, before the citation check cut the unsupported
    supported: int
    verified_rate: float
    cited: int
    fabricated: list[str]
    facts_covered: list[str]
    facts_missed: list[str]
    unsupported: list[str]
    key_in_report: bool
    key_in_summary: bool
    report_claims: int  # in the report as delivered
    relevant: int
    summary: str


BUILT_IN_AGENTS = EvalAgents()


async def _task(
    kind: TaskKind, inp: dict[str, Any], llm: ChatClient | None, n: int, agents: EvalAgents = BUILT_IN_AGENTS
) -> dict[str, Any]:
    payload = TaskDispatchedPayload(task_id=f"eval-{kind}-{n}", kind=kind, role="analyst", input=inp)
    task = TaskDispatched.create(payload, tenant_id=EVAL_TENANT, run_id=f"eval-run-{n}")
    component = COMPONENT_OF_TASK.get(kind)
    if component is None:
        return (await execute(task, llm)).output
    return (await execute(task, agents.model(component, llm), tuning=agents.tuning(component))).output


async def evaluate(
    index: SourceIndex,
    q: Question,
    llm: ChatClient | None = None,
    ks: tuple[int, ...] = (5, 10),
    n: int = 0,
    agents: EvalAgents = BUILT_IN_AGENTS,
) -> QuestionResult:
    """Run one question end to end (planning and writing by `llm` when given, each component as
    `agents` configures it) and score it."""
    planned = PlanOutput.model_validate(await _task("plan", {"question": q.question, "depth": DEPTH}, llm, n, agents))
    subs = planned.sub_questions
    limit = max(PASSAGES_PER_SEARCH, *ks)
    readers = [EVAL_TENANT, PUBLIC_TENANT]
    # As the retriever's search task asks (services/retriever/application/search.py): the
    # sub-question, in the context of the question.
    results = [index.search(sub, readers, limit, ranking=agents.ranking, context=q.question) for sub in subs]
    ranking = fused_ranking(results)
    recall = {k: recall_at(ranking, q.documents, k) for k in ks}
    top = {p.source_id for p in ranking[: max(ks)]}

    findings = [
        SearchOutput(sub_question=s, passages=r[:PASSAGES_PER_SEARCH]) for s, r in zip(subs, results, strict=True)
    ]
    gathered = {"question": q.question, "findings": [f.model_dump() for f in findings]}
    collected = CollectOutput.model_validate(await _task("collect", gathered, None, n))
    to_write = {
        "question": q.question,
        "sub_questions": subs,
        "findings": [f.model_dump() for f in collected.findings],
        "max_sources": MAX_SOURCES,
    }
    written = SynthesiseOutput.model_validate(await _task("synthesise", to_write, llm, n, agents))
    draft, check = written.draft, written.citation_check
    if check is None:
        raise RuntimeError("the synthesise task returned no citation check")
    verified = verify(VerifyInput(draft=draft))
    retrieved: list[Passage] = [p for r in results for p in r]
    delivered = report_claims(draft)
    answer = claims_text(delivered)
    covered = [f for f in q.facts if fact_covered(f, answer)]
    summary = claims_text(draft.summary)
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
        key_in_report=states_key_term(q.key_terms, answer),
        key_in_summary=states_key_term(q.key_terms, summary),
        report_claims=len(delivered),
        relevant=len(relevant_claims(draft, q.documents, q.key_terms, q.facts)),
        summary=summary,
    )
