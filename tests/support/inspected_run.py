"""One run's events as the gateway records them, for the run inspector: a search retried, a
policy decision each, a synthesis, the facts indexed and the usage metered."""

from __future__ import annotations

from contracts.envelope import Event
from contracts.ids import new_id
from contracts.run import RunRequested, RunRequestedPayload
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested, ToolRequestedPayload
from contracts.work import Claim, Draft, Section, SourceRef
from services.gateway.readmodels.store import GatewayStore
from tests.support.run_log import RunLog

DRAFT = Draft(
    title="Generators",
    question="How do generators work?",
    summary=[Claim(text="A generator yields values lazily.", citations=[1])],
    sections=[Section(heading="Protocol", claims=[Claim(text="next() resumes it.", citations=[1])])],
    sources=[SourceRef(number=1, source_id="s1", title="PEP 255", location="", passage="secret passage")],
)


def record_run(store: GatewayStore, tenant_id: str, run_id: str) -> list[Event]:
    """Record a run's events in the gateway's log; returns them (billing reads the same bus)."""
    log = RunLog(tenant_id, run_id)
    search, synth, index = new_id(), new_id(), new_id()
    log.add(0, RunRequested.create(RunRequestedPayload(question=DRAFT.question, depth=1, max_sources=1), **log.ids))
    log.dispatch(1, search, "search", "retriever")
    log.fail(3, search, "search", [])
    log.dispatch(4, search, "search", "retriever", attempt=2)
    asked = ToolRequestedPayload(request_id="q1", tool="web_search", task_id=search, step="search")
    log.add(5, ToolRequested.create(asked, **log.ids))
    decided = ToolDecidedPayload(
        request_id="q1",
        task_id=search,
        tool="web_search",
        decision="allow",
        reasons=["within plan"],
        policy_ids=["p-allow-search"],
        policy_version="v7",
        evaluation_ms=0.4,
    )
    log.add(5, ToolDecided.create(decided, **log.ids))
    searched = log.usage(9, search, "search", "web_search", search_calls=3, seconds=1.25)
    log.succeed(9, search, "search", [searched], attempt=2, output={"passages": []})
    log.dispatch(10, synth, "synthesise", "analyst")
    # A synthesis that called two models (its endpoint fell back): both records are its usage.
    drafted = [
        log.usage(
            12,
            synth,
            "synthesise",
            "llm_generate",
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            seconds=seconds,
            model=model,
        )
        for tokens_in, tokens_out, seconds, model in ((1200, 300, 2.5, "model-a"), (800, 200, 0.0, "model-b"))
    ]
    log.succeed(12, synth, "synthesise", drafted, output={"draft": DRAFT.model_dump(mode="json")})
    log.dispatch(13, index, "index", "retriever")
    log.succeed(14, index, "index", [], output={"chunks": 2})
    for event in log.events:
        assert store.record_run_event(event)
    return log.written
