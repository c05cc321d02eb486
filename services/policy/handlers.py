"""Bus consumers of the policy service: `tool.v1.requested`, `policy.v1.published` and `credits.>`."""

from __future__ import annotations

from contracts import consumers, subjects
from contracts.envelope import Event
from contracts.policy import PolicyPublished
from contracts.tool import ToolRequested
from quarry_runtime.bus import Bus, Subscription
from services.policy.application.decider import Decider
from services.policy.application.events import (
    DelegationCheck,
    Observer,
    answer_tool_request,
    follow_credits,
    recorder,
    switch_version,
)
from services.policy.application.versions import PolicyVersions
from services.policy.store import PolicyStore


def subscriptions(
    bus: Bus,
    decider: Decider,
    *,
    store: PolicyStore | None = None,
    versions: PolicyVersions | None = None,
    delegation: DelegationCheck | None = None,
    observe: Observer | None = None,
) -> list[Subscription]:
    record = recorder(store) if store is not None else None

    async def on_tool_requested(ev: ToolRequested) -> None:
        await answer_tool_request(ev, bus, decider, record=record, delegation=delegation, observe=observe)

    subs = [
        Subscription(
            subjects.TOOL_REQUESTED, consumers.durable("policy", subjects.TOOL_REQUESTED), on_tool_requested, batch=32
        )
    ]
    if versions is not None:

        async def on_published(ev: PolicyPublished) -> None:
            await switch_version(ev, bus, versions)

        subs.append(
            Subscription(
                subjects.POLICY_PUBLISHED, consumers.durable("policy", subjects.POLICY_PUBLISHED), on_published, batch=1
            )
        )

    async def on_credits(ev: Event) -> None:
        await follow_credits(ev, decider.budgets)

    subs.append(Subscription("credits.>", consumers.durable("policy", "credits.>"), on_credits, batch=64))
    return subs
