"""A decision on a simulated tool call: the principal, tool and context a caller names, with
nothing used up (no rate-limit window, no decision log)."""

from __future__ import annotations

from contracts.policy import SimulateRequest
from contracts.tool import ToolRequestedPayload
from services.policy.domain.engine import PolicyEngine
from services.policy.domain.verdict import Verdict

# The engine reads neither id; they only label the request.
SIMULATION_ID = "simulation"


def simulate(engine: PolicyEngine, query: SimulateRequest) -> Verdict:
    """What `engine` decides for the call `query` describes."""
    who, what, context = query.principal, query.resource, query.context
    request = ToolRequestedPayload(
        request_id=SIMULATION_ID,
        tool=what.tool,
        task_id=SIMULATION_ID,
        step=context.step,
        plan=who.plan,
        roles=who.roles,
        arguments=what.arguments,
    )
    return engine.decide(
        request,
        tenant_id=who.tenant_id,
        agent=who.agent,
        user_id=who.user_id,
        budget_remaining_pct=context.budget_remaining_pct,
        hour_utc=context.hour_utc,
    )
