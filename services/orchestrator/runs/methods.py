"""What the report's methods section says, read from the run's log. Pure."""

from __future__ import annotations

from contracts.work import ReportMethods, SearchTally, VerifyOutput
from services.orchestrator.runs.domain import Run


def report_methods(run: Run) -> ReportMethods:
    """What was searched and found, how well the citations hold, and what the run cost so far."""
    # Tallied as the searches finished (their passages leave the state once collected), in the
    # order the searches were requested.
    tallies = run.search_tallies
    ids = [t.task_id for t in run.tasks_of("search")]
    # Then the sub-questions only datasets were read for (no search of theirs to count under).
    searches = [tallies[i] for i in ids if i in tallies] + [t for k, t in tallies.items() if k not in ids]
    # The check of the draft as written (before unsupported claims were cut) is the honest rate;
    # the verify step, run on what was kept, stands in for runs from before that check existed.
    written = next((t.output for t in run.tasks_of("synthesise") if t.output is not None), None)
    verified = next((t.output for t in run.tasks_of("verify") if t.output is not None), None)
    found = (written or {}).get("citation_check") or verified
    check = VerifyOutput.model_validate(found) if found is not None else None
    # A synthesis from before the answer-relevance check reported no count: say nothing, not 0.
    off_question = (written or {}).get("off_question")
    template = run.template or {}
    return ReportMethods(
        searches=[
            SearchTally(sub_question=s["sub_question"], passages=s["passages"], sources=len(s["source_ids"]))
            for s in searches
        ],
        searched=list(run.sources or []),
        passages_retrieved=sum(s["passages"] for s in searches),
        sources_retrieved=len({source for s in searches for source in s["source_ids"]}),
        passages_kept=run.passages_kept,
        claims_checked=check.checked if check else None,
        claims_supported=check.supported if check else None,
        support_rate=check.support_rate if check else None,
        claims_off_question=off_question,
        credits_reserved=run.credits_reserved,
        plan=run.plan,
        usage_records=len(run.usage_event_ids()),
        template_id=template.get("template_id"),
        template_version=template.get("template_version"),
        template_name=template.get("template_name"),
        tone=template.get("tone") or "neutral",
    )
