"""The policy service's decision point: the active engine, plus what outlives a version.

An engine is one immutable policy set version; the rate-limit windows and the budget book
belong to the service and carry over when a new version is switched in. The windows are kept
where every replica counts in them (`quarry_security.ratelimit`, a JetStream key-value bucket in
the service), so N replicas together allow a tenant the registry's limit, not N times it. The switch is one
reference assignment, so a decision runs wholly on the old version or wholly on the new.
"""

from __future__ import annotations

import time

from contracts.policy import SimulateRequest
from contracts.tool import ToolRequestedPayload
from quarry_security.ratelimit import LimiterBusy, SlidingWindowLimiter, store_key
from services.policy.application.budget import BudgetBook
from services.policy.domain.engine import PolicyEngine, Verdict
from services.policy.domain.simulation import simulate


class Decider:
    def __init__(
        self,
        engine: PolicyEngine,
        *,
        limiter: SlidingWindowLimiter | None = None,
        budgets: BudgetBook | None = None,
    ) -> None:
        self.engine = engine
        self.limiter = limiter or SlidingWindowLimiter()
        self.budgets = budgets or BudgetBook()

    @property
    def version(self) -> str:
        return self.engine.version

    def switch(self, engine: PolicyEngine) -> str:
        """Put `engine` in force; returns the version it replaces."""
        previous, self.engine = self.engine.version, engine
        return previous

    async def decide(
        self, request: ToolRequestedPayload, *, tenant_id: str, agent: str, user_id: str | None
    ) -> Verdict:
        """A real decision: the tenant's budget as billing last reported it, the clock's hour,
        and a call counted against the rate limit unless it is denied."""
        engine = self.engine
        verdict = engine.decide(
            request,
            tenant_id=tenant_id,
            agent=agent,
            user_id=user_id,
            budget_remaining_pct=self.budgets.remaining_pct(tenant_id),
        )
        return await self._rate_limited(engine, verdict, tenant_id, request.tool, consume=True)

    async def simulate(self, query: SimulateRequest) -> Verdict:
        """What `decide` would answer, using nothing up: the rate limit is only looked at."""
        engine = self.engine
        verdict = simulate(engine, query)
        return await self._rate_limited(engine, verdict, query.principal.tenant_id, query.resource.tool, consume=False)

    async def _rate_limited(
        self, engine: PolicyEngine, verdict: Verdict, tenant_id: str, tool: str, *, consume: bool
    ) -> Verdict:
        # Checked after the policies so a denied call does not use up the tenant's quota; a call
        # awaiting approval does, since it runs as soon as a human says yes.
        if verdict.decision == "deny":
            return verdict
        started = time.perf_counter()
        limit = engine.registry[tool].rate_limit
        key = rate_key(tenant_id, tool)
        try:
            wait = (
                await self.limiter.hit(key, limit.calls, limit.per_s)
                if consume
                else await self.limiter.peek(key, limit.calls, limit.per_s)
            )
        except LimiterBusy:
            # Fail closed: a window nobody can update is one nobody can prove has room.
            wait = 1.0
        if wait is None:
            return verdict
        return verdict.denied(
            f"rate limit: {tool} allows {limit.calls} calls per {limit.per_s}s per tenant (tool registry)",
            started,
            retry_after_s=round(wait, 3),  # at least 0.001: gt=0 holds
        )


def rate_key(tenant_id: str, tool: str) -> str:
    """The tenant's window for the tool, in the shared bucket."""
    return store_key("policy", tenant_id, tool)
