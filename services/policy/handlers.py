"""Bus subscriber of the policy service: every tool request gets a Cedar decision."""

from __future__ import annotations

import logging

from contracts import subjects
from contracts.envelope import Actor
from contracts.tool import ToolDecided, ToolRequested
from quarry_runtime.bus import Bus, Subscription
from services.policy.engine import PolicyEngine

log = logging.getLogger(__name__)
AGENT = "quarry-policy"


def subscriptions(bus: Bus, engine: PolicyEngine) -> list[Subscription]:
    async def on_tool_requested(ev: ToolRequested) -> None:
        """Decide and publish; the decision's id is derived from the request, so a
        redelivered request yields the same decision event, de-duplicated by JetStream."""
        verdict = engine.decide(
            ev.payload, tenant_id=ev.tenant_id, agent=ev.actor.agent or "unknown-agent", user_id=ev.actor.user_id
        )
        decided = ToolDecided.caused_by(ev, verdict.to_payload(ev.payload))
        decided = decided.model_copy(
            update={"actor": Actor(user_id=ev.actor.user_id, agent=AGENT, roles=ev.actor.roles)}
        )
        if verdict.decision != "allow":
            log.info("run %s: %s -> %s (%s)", ev.run_id, ev.payload.tool, verdict.decision, "; ".join(verdict.reasons))
        await bus.publish(decided)

    return [Subscription(subjects.TOOL_REQUESTED, "policy-tool-requests", on_tool_requested, batch=32)]
