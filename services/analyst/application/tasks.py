"""The analyst's lane: plan, collect findings, synthesise cited drafts and verify them (offline by default)."""

from __future__ import annotations

import asyncio
import functools

from contracts.agents import COMPONENT_OF_TASK
from contracts.task import Fault, TaskDispatched
from contracts.work import CollectInput, PlanInput, SynthesiseInput, VerifyInput
from quarry_runtime.agent_configs import AgentConfigs, config_for
from quarry_runtime.worker import TaskError, Usage, WorkResult
from quarry_security.egress import BlockedAddress, Unresolvable
from services.analyst.application.answer import Publish, answer
from services.analyst.application.live import plan_live
from services.analyst.application.live_synthesis import synthesise_live
from services.analyst.application.screening import screen_findings, stripped_trips
from services.analyst.application.tuning import BUILT_IN, Tuning, tuning_of
from services.analyst.domain.collect import collect
from services.analyst.domain.outline import with_outline
from services.analyst.domain.planning import plan
from services.analyst.domain.redundancy import MMR_LAMBDA
from services.analyst.domain.relevance import drop_off_question
from services.analyst.domain.synthesis import check_citations, synthesise
from services.analyst.domain.verify import drop_unsupported, verify
from services.analyst.llm import ChatClient, LlmError
from services.analyst.models import Chosen, Models
from services.analyst.translate import usage_of


async def execute(
    task: TaskDispatched, llm: ChatClient | None = None, publish: Publish | None = None, tuning: Tuning = BUILT_IN
) -> WorkResult:
    """Run one analyst task: plans come from `llm` when given (live mode), else from the rules;
    `tuning` is the agent configuration the task names (`BUILT_IN`: none).

    CPU-bound work goes to a thread so the consumer keeps heartbeating. Live, the model plans and
    writes the draft (`services.analyst.application.live_synthesis`); offline both are extractive.
    """
    kind = task.payload.kind
    if kind == "answer":
        return await answer(task, llm, publish, tuning)
    if kind == "plan":
        inp = PlanInput.model_validate(task.payload.input)
        if llm is not None:
            planned, completion = await plan_live(llm, inp, tuning)
            return WorkResult(output=planned.model_dump(), usage=[usage_of("llm_generate", [completion])])
        planned = await asyncio.to_thread(plan, inp, tuning.max_sub_questions)
        return WorkResult(output=planned.model_dump(), usage=[Usage(tool="llm_generate")])
    if kind == "synthesise":
        to_write = SynthesiseInput.model_validate(task.payload.input)
        usage = Usage(tool="llm_generate")
        extract = functools.partial(
            synthesise,
            claims_per_section=tuning.claims_per_section,
            lam=MMR_LAMBDA if tuning.mmr_lambda is None else tuning.mmr_lambda,
        )
        if llm is not None:
            result, spent = await synthesise_live(llm, to_write, tuning)
            usage = usage_of("llm_generate", spent, model=llm.model)
        else:
            result = await asyncio.to_thread(extract, to_write)
        # Whoever wrote the draft (extractor or model), what its sources do not back is cut here, and
        # the check of the draft as written stays in the output: the run's citation-support rate.
        draft, check = await asyncio.to_thread(drop_unsupported, result.draft)
        off_question = result.off_question
        if llm is not None:
            # The extractor checks answer relevance as it picks; a model's draft is checked here.
            draft, off_question = await asyncio.to_thread(drop_off_question, draft, to_write.sub_questions)
        if llm is not None and not any(section.claims for section in draft.sections):
            # Nothing the model wrote is backed and on the question: the report is written
            # extractively instead, and the check of the model's draft stays as the run's support rate.
            extractive = await asyncio.to_thread(extract, to_write)
            draft, _ = await asyncio.to_thread(drop_unsupported, extractive.draft)
            off_question = extractive.off_question
        # Cutting may empty an outline section; the outline stays whole, the report saying it is empty.
        draft = with_outline(draft, to_write.outline)
        problems = check_citations(draft, check_text=False)
        if problems:
            raise TaskError("synthesis produced unsupported citations: " + "; ".join(problems[:3]))
        output = result.model_copy(update={"draft": draft, "citation_check": check, "off_question": off_question})
        return WorkResult(output=output.model_dump(), usage=[usage])
    if kind == "collect":
        gathered = CollectInput.model_validate(task.payload.input)
        findings, injections = screen_findings(gathered.findings)
        collected = await asyncio.to_thread(collect, gathered.model_copy(update={"findings": findings}))
        collected = collected.model_copy(update={"injections_stripped": sum(injections.values())})
        trips = stripped_trips(injections)
        return WorkResult(output=collected.model_dump(), usage=[Usage(tool="llm_generate")], trips=trips)
    if kind == "verify":
        checked = await asyncio.to_thread(verify, VerifyInput.model_validate(task.payload.input))
        # Offline drafts are extractive, so anything short of full support is a fault, not a judgement call.
        if checked.support_rate < 1.0 or checked.problems:
            detail = "; ".join(checked.problems[:3]) or f"support rate {checked.support_rate:.2f}"
            raise TaskError(f"citation check failed: {detail}")
        return WorkResult(output=checked.model_dump(), usage=[Usage(tool="llm_generate")])
    raise TaskError(f"the analyst does not do {kind!r} tasks")


MODEL_KINDS = frozenset({"plan", "synthesise", "answer"})  # the tasks a model writes in live mode


def writer(chosen: Chosen | None, tuning: Tuning) -> ChatClient | None:
    """The model a task is written by (None: the rules): the tenant's own endpoint and model when it
    has set one, whatever the version's mode (the tenant chose and pays for it; a platform rollout
    does not move its data elsewhere); else as the version's mode says, its `model` named at the
    service's endpoint; else (no version) the service's default, as before versions."""
    if chosen is not None and chosen.tenants_own:
        return chosen.client
    if tuning.mode == "offline":
        return None
    if tuning.mode == "llm":
        if chosen is None:
            raise TaskError(
                "the agent version writes with a model (mode llm) and this analyst has none: "
                "set QUARRY_ANALYST_MODE=live and QUARRY_LLM_BASE_URL",
                retryable=False,
            )
        return chosen.client.with_model(tuning.model) if tuning.model else chosen.client
    return chosen.client if chosen is not None else None


SHADOWS = "__platform_shadows__"  # the pseudo-tenant shadow tasks take their model and slots as


async def execute_for_tenant(
    task: TaskDispatched,
    models: Models,
    publish: Publish | None = None,
    agents: AgentConfigs | None = None,
    environment: str = "production",
) -> WorkResult:
    """Run one task with the model its tenant has chosen (or the service default, or none), and the
    agent version it names (`services.analyst.application.tuning` says what a version decides)."""
    config = await config_for(task, agents, environment)
    tuning = BUILT_IN if config is None else tuning_of(COMPONENT_OF_TASK[task.payload.kind], config)
    if task.payload.kind not in MODEL_KINDS:
        return await execute(task, None, publish, tuning)
    # A rollout's shadow task runs for the platform: on its model and its slots, never on the
    # tenant's own endpoint (the tenant's provider would bill them for it) or the tenant's share.
    async with models.use(SHADOWS if task.payload.shadow else task.tenant_id) as chosen:
        client = writer(chosen, tuning)
        # The tenant's own endpoint failing is the tenant's doing: billing charges the work done.
        fault: Fault = "tenant" if chosen is not None and chosen.tenants_own else "platform"
        try:
            # Past its timeout the orchestrator has given the attempt up: stop, and give the
            # tenant's slot back, rather than wait on a model nobody waits for any more.
            async with asyncio.timeout(task.payload.timeout_s):
                return await execute(task, client, publish, tuning)
        except TimeoutError as exc:
            raise TaskError(
                f"no result within the task's {task.payload.timeout_s:g}s", retryable=True, fault=fault
            ) from exc
        except TaskError as exc:
            refused = exc.__cause__ if isinstance(exc.__cause__, LlmError) else None
            blocked = refused.__cause__ if refused is not None else None
            if isinstance(blocked, BlockedAddress) and not isinstance(blocked, Unresolvable):
                # The name turned inward after the first check (DNS rebinding): no retry will help.
                raise TaskError(
                    f"the tenant's model endpoint is not on the public internet ({blocked}); "
                    "an admin can set another with PUT /v1/tenant/model",
                    retryable=False,
                    fault=fault,
                ) from exc
            if fault == "tenant" and refused is not None:
                if refused.status in (401, 403):
                    raise TaskError(
                        f"the tenant's model endpoint refused its API key (HTTP {refused.status}); "
                        "an admin can set a new one with PUT /v1/tenant/model",
                        retryable=False,
                        fault="tenant",
                    ) from exc
                raise TaskError(str(exc), retryable=exc.retryable, trip=exc.trip, fault="tenant") from exc
            raise
