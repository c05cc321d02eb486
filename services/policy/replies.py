"""Core-NATS request/reply of the policy service: simulate, list decisions, list versions, and
authorise a plan review (Cedar action `review_plan`).

Requests go to a queue group, so with several replicas exactly one answers each. Every replica
also listens (outside the group) to `policy.v1.activated`, so a switch made by one replica is
followed by all; a slow poll of the shared store covers an announcement missed while
disconnected. Nothing here has side effects: a simulation uses no rate limit and logs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Final

from pydantic import BaseModel

from contracts import subjects
from contracts.policy import (
    DecisionsQuery,
    DecisionsReply,
    PlanReviewQuery,
    PlanReviewReply,
    SimulateReply,
    SimulateRequest,
    VersionsQuery,
    VersionsReply,
)
from quarry_runtime.bus import Bus
from quarry_runtime.replies import Respond, answering, parsed
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions
from services.policy.store import PolicyStore
from services.policy.translate import verdict_contract

log = logging.getLogger(__name__)
QUEUE: Final = "policy"
RELOAD_POLL_S: Final = 15.0


def responders(decider: Decider, store: PolicyStore, versions: PolicyVersions) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def simulate(query: SimulateRequest) -> BaseModel:
        verdict = await decider.simulate(query)
        return SimulateReply(verdict=verdict_contract(verdict))

    async def plan_review(query: PlanReviewQuery) -> BaseModel:
        verdict = decider.engine.authorise_plan_review(
            tenant_id=query.tenant_id,
            user_id=query.user_id,
            roles=list(query.roles),
            run_id=query.run_id,
            run_tenant_id=query.run_tenant_id,
            requester_id=query.requester_id,
            sub_questions=query.sub_questions,
            max_sub_questions=query.max_sub_questions,
        )
        return PlanReviewReply(verdict=verdict_contract(verdict))

    async def decisions(query: DecisionsQuery) -> BaseModel:
        rows = await asyncio.to_thread(store.recent_decisions, query.tenant_id, query.limit)
        return DecisionsReply(decisions=rows)

    async def list_versions(query: VersionsQuery) -> BaseModel:
        found = await asyncio.to_thread(store.versions, query.version)
        return VersionsReply(active_version=decider.version, versions=found)

    return {
        subjects.POLICY_SIMULATE: parsed(SimulateRequest, SimulateReply, "simulation request", simulate),
        subjects.POLICY_DECISIONS: parsed(DecisionsQuery, DecisionsReply, "decisions query", decisions),
        subjects.POLICY_VERSIONS: parsed(VersionsQuery, VersionsReply, "versions query", list_versions),
        subjects.POLICY_PLAN_REVIEW: parsed(PlanReviewQuery, PlanReviewReply, "plan review query", plan_review),
    }


def serve(
    bus: Bus, decider: Decider, store: PolicyStore, versions: PolicyVersions
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests and follow switches until cancelled."""
    table = responders(decider, store, versions)

    async def job() -> None:
        async with answering(bus, table, queue=QUEUE, who="the policy service") as subscriptions:

            async def on_activated(_: Any) -> None:
                await asyncio.to_thread(versions.reload)

            subscriptions.append(await bus.broker.connection.subscribe(subjects.POLICY_ACTIVATED, cb=on_activated))
            while True:
                await asyncio.sleep(RELOAD_POLL_S)
                await asyncio.to_thread(versions.reload)

    return job
