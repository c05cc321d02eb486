"""What the policy service does with each event it consumes.

* `tool.v1.requested`: decide, keep the decision among the tenant's recent ones for admins to list,
  then publish `tool.v1.decided` (the decision log of record) as kept;
* `policy.v1.published`: validate and switch, publish `policy.v1.activated` or `rejected`;
* `credits.>`: follow each tenant's balance for the budget-aware rules.

Every store call runs off the event loop on PostgreSQL (a round trip, or a wait for a database
that is away, would stall every other consumer and the request/reply of this process) and is
awaited before the handler returns: the bus acknowledges a message only after its effect is
committed. A local SQLite write (WAL, no fsync) costs less than a thread hop and stays in the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from contracts.envelope import Actor, Event
from contracts.policy import PolicyActivated, PolicyActivatedPayload, PolicyPublished, PolicyRejected
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested
from quarry_runtime.bus import Bus
from quarry_runtime.spans import span
from quarry_security.delegation import DelegationError, KeyDirectory, verify
from services.policy.application.budget import BudgetBook, CreditEvent
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions
from services.policy.store import KeptDecision, PolicyStore
from services.policy.translate import decided_payload, delegation_refused

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
AGENT = "quarry-policy"


DelegationCheck = Callable[[ToolRequested], Awaitable[str | None]]


def delegation_check(keys: KeyDirectory) -> DelegationCheck:
    """Why the request's delegation token proves nothing (None when it proves the delegation)."""

    async def check(ev: ToolRequested) -> str | None:
        try:
            await verify(
                ev.payload.delegation,
                keys.lookup,
                tenant_id=ev.tenant_id,
                user_id=ev.actor.user_id,
                roles=ev.payload.roles,
                required_scope=f"tool:{ev.payload.tool}",
            )
        except DelegationError as exc:
            return str(exc)
        return None

    return check


Recorder = Callable[[ToolDecided], Awaitable[KeptDecision]]
Observer = Callable[[ToolDecidedPayload], None]


async def answer_tool_request(
    ev: ToolRequested,
    bus: Bus,
    decider: Decider,
    *,
    record: Recorder | None,
    delegation: DelegationCheck | None,
    observe: Observer | None = None,
) -> None:
    """Verify the agent's delegation, decide and publish; the decision's id is derived from
    the request, so a redelivered request yields the same decision event, de-duplicated by
    JetStream. The agent and the user are decided on both: the token proves the agent acts
    for this user within this scope, and Cedar decides the tool for the user's plan and roles."""
    with span("policy decide", {"quarry.policy.tool": ev.payload.tool, "quarry.task.id": ev.payload.task_id}) as seen:
        decided, first = await _decide(ev, decider, record, delegation)
        if seen.is_recording():
            p = decided.payload
            seen.set_attributes(
                {
                    "quarry.policy.outcome": p.decision,
                    "quarry.policy.ids": p.policy_ids,
                    "quarry.policy.version": p.policy_version,
                }
            )
    await bus.publish(decided)
    if observe is not None and first:  # a redelivered request's decision was counted already
        observe(decided.payload)


async def _decide(
    ev: ToolRequested, decider: Decider, record: Recorder | None, delegation: DelegationCheck | None
) -> tuple[ToolDecided, bool]:
    """The decision to publish, and whether it is decided here for the first time (without a
    store, every time is the first)."""
    refused = await delegation(ev) if delegation is not None else None
    if refused is not None:
        payload = delegation_refused(ev.payload, refused, decider.version)
    else:
        verdict = await decider.decide(
            ev.payload, tenant_id=ev.tenant_id, agent=ev.actor.agent or "unknown-agent", user_id=ev.actor.user_id
        )
        payload = decided_payload(verdict, ev.payload)
    decided = ToolDecided.caused_by(ev, payload)
    decided = decided.model_copy(update={"actor": Actor(user_id=ev.actor.user_id, agent=AGENT, roles=ev.actor.roles)})
    if payload.decision != "allow":
        log.info("run %s: %s -> %s (%s)", ev.run_id, ev.payload.tool, payload.decision, "; ".join(payload.reasons))
    # Recorded before the publish, and what is published is the decision the store kept: a
    # redelivered request may be decided differently (a rate-limit window moved on), but the
    # first decision recorded is the one the list shows and the bus carries. The request is
    # acknowledged only after both, so a store or bus failure in between repeats both (the
    # publish de-duplicated by JetStream), and neither is ever lost.
    if record is None:
        return decided, True
    kept = await record(decided)
    if kept.payload != decided.payload:
        decided = decided.model_copy(update={"payload": kept.payload})
    return decided, kept.first


async def switch_version(ev: PolicyPublished, bus: Bus, versions: PolicyVersions) -> None:
    """Validate a published policy set and switch to it, announcing `activated` or `rejected`."""
    # Always off the loop: besides the store, it compiles and validates a whole policy
    # set, and publications are rare enough that the thread hop costs nothing.
    outcome = await asyncio.to_thread(versions.apply, ev)
    if outcome is None:
        return
    reply: Event
    if isinstance(outcome, PolicyActivatedPayload):
        reply = PolicyActivated.caused_by(ev, outcome)
    else:
        reply = PolicyRejected.caused_by(ev, outcome)
    await bus.publish(reply.model_copy(update={"actor": ev.actor.model_copy(update={"agent": AGENT})}))


async def follow_credits(ev: Event, budgets: BudgetBook) -> None:
    """Follow a tenant's balance for the budget-aware rules."""
    if isinstance(ev, CreditEvent):
        await store_call(_on_postgres(budgets.store), budgets.apply, ev)


def recorder(store: PolicyStore) -> Recorder:
    """Keeps a decision in the store, returning the one kept and whether it was this one."""
    on_postgres = _on_postgres(store)

    async def record(ev: ToolDecided) -> KeptDecision:
        return await store_call(on_postgres, store.record_decision, ev)

    return record


def _on_postgres(store: PolicyStore | None) -> bool:
    return store is not None and store.db.is_postgres


async def store_call(off_loop: bool, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`call` in a worker thread when `off_loop` (a PostgreSQL store), else here; awaited either way."""
    if off_loop:
        return await asyncio.to_thread(call, *args, **kwargs)
    return call(*args, **kwargs)
