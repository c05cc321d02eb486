"""The read task: one of the tenant's datasets searched for every sub-question, under one `read_dataset` decision."""

from __future__ import annotations

from contracts.work import ALL_DATASETS, ReadInput, ReadOutput, SearchOutput
from services.retriever.application.uploads import can_own
from services.retriever.domain.errors import NotReadable
from services.retriever.domain.ranking import Ranking
from services.retriever.index import SourceIndex
from services.retriever.providers import CorpusProvider
from services.retriever.translate import passage_of


async def read_dataset(
    inp: ReadInput, tenant_id: str, index: SourceIndex, ranking: Ranking | None = None
) -> tuple[ReadOutput, int]:
    """The dataset's passages per sub-question (always filtered by the tenant), and the queries it took."""
    if not can_own(tenant_id):
        raise NotReadable(f"tenant {tenant_id!r} cannot own datasets")
    chosen = None if inp.dataset == ALL_DATASETS else {tenant_id: [inp.dataset]}
    provider = CorpusProvider(index, [tenant_id], chosen, ranking)
    findings = []
    for sub_question in inp.sub_questions:
        hits = await provider.search(f"{sub_question} {inp.query}", inp.limit)
        passages = [passage_of(h) for h in hits]
        findings.append(SearchOutput(sub_question=sub_question, passages=passages))
    return ReadOutput(findings=findings), len(inp.sub_questions)
