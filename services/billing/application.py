"""Billing's use cases: reserve at admission, meter usage, settle or refund at the end."""

from __future__ import annotations

from collections.abc import Callable

from eventsourcing.application import AggregateNotFoundError

from contracts.run import RunCancelled, RunCompleted, RunExpired, RunFailed, RunRejected, RunRequested
from contracts.usage import UsageRecorded
from quarry_runtime.errors import NotReady
from quarry_runtime.outbox import OutboxApplication
from services.billing.domain import Ledger
from services.billing.plans import DEFAULT_PLAN, PLANS, estimate_run, usage_credits


class Billing(OutboxApplication):
    """Credit ledgers, one per tenant."""

    on_saved: Callable[[], None] = staticmethod(lambda: None)

    def ledger(self, tenant_id: str) -> Ledger:
        """The tenant's ledger; a tenant seen for the first time is opened on the default plan."""
        try:
            ledger: Ledger = self.repository.get(Ledger.create_id(tenant_id))
            return ledger
        except AggregateNotFoundError:
            ledger = Ledger(tenant_id=tenant_id, plan=DEFAULT_PLAN)
            ledger.grant(PLANS[DEFAULT_PLAN].monthly_credits, reason=f"{DEFAULT_PLAN} plan monthly credits")
            return ledger

    def balance(self, tenant_id: str) -> int:
        return self.ledger(tenant_id).balance

    def admit(self, ev: RunRequested) -> None:
        """Reserve the run's estimate, or deny it when the balance is short."""
        ledger = self.ledger(ev.tenant_id)
        if ledger.has_seen(ev.event_id) or (ev.run_id or "") in ledger.reservations:
            return
        ledger.reserve(ev.run_id or "", estimate_run(ev.payload.depth, ev.payload.max_sources), cause=ev.event_id)
        self._save(ledger)

    def meter(self, ev: UsageRecorded) -> None:
        """Record a usage event's credits once, against its run's reservation."""
        ledger = self.ledger(ev.tenant_id)
        if ev.event_id in ledger.metered:
            return
        u = ev.payload
        credits = usage_credits(u.tokens_in + u.tokens_out, u.search_calls, u.seconds, u.tool)
        ledger.meter(ev.run_id, ev.event_id, credits, cause=ev.event_id)
        self._save(ledger)

    def close_run(self, ev: RunCompleted | RunCancelled | RunFailed | RunExpired | RunRejected) -> None:
        """Settle a completed or cancelled run against its usage and refund the rest; refund a
        run that failed, expired or was refused in full (the tenant pays for no failed work)."""
        ledger = self.ledger(ev.tenant_id)
        res = ledger.reservations.get(ev.run_id or "")
        if ledger.has_seen(ev.event_id) or res is None or res.closed:
            return
        if isinstance(ev, RunCompleted | RunCancelled):
            missing = ledger.missing_usage(ev.payload.usage_event_ids)
            if missing:
                raise NotReady(f"{len(missing)} usage event(s) of run {ev.run_id} not metered yet")
            ledger.settle(res.run_id, ev.payload.usage_event_ids, cause=ev.event_id)
        else:
            outcome = ev.type.removeprefix("run.")
            ledger.refund(res.run_id, reason=f"run {outcome}: {ev.payload.reason}"[:300], cause=ev.event_id)
        self._save(ledger)

    def _save(self, ledger: Ledger) -> None:
        self.save(ledger)
        self.on_saved()
