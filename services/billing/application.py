"""Billing's use cases: reserve at admission, meter usage, settle or refund at the end; apply
what Stripe reports (purchases, plan changes, refunded payments) once each."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from typing import Any, ClassVar

from contracts.envelope import Event
from contracts.question import QuestionAnswered, QuestionAsked, QuestionFailed
from contracts.run import RunCancelled, RunCompleted, RunExpired, RunFailed, RunRejected, RunRequested
from contracts.usage import UsageRecorded
from quarry_runtime.errors import NotReady
from quarry_runtime.eventsourced import EventSourcedApplication
from services.billing.domain import Ledger
from services.billing.errors import LedgerError
from services.billing.meters import PLATFORM_LEDGER, count_platform_credits
from services.billing.plans import (
    DEFAULT_PLAN,
    PACKS,
    PLANS,
    estimate_question,
    estimate_run,
    plan_named,
    usage_credits,
)
from services.billing.tracing import entry
from services.billing.who_pays import settlement

STRIPE = "stripe"


def period_of(at: datetime) -> str:
    """The billing period (a calendar month, UTC) a moment falls in."""
    utc = at.astimezone(UTC)
    return f"{utc.year}-{utc.month:02d}"


def actor_of(ev: Event) -> str:
    if ev.actor.user_id:
        return f"user:{ev.actor.user_id}"
    return ev.actor.agent or "system"


# How long a query waits for the tenant's staged changes.
SETTLE_WAIT_S = 2.0


class Billing(EventSourcedApplication):
    """Credit ledgers, one per tenant."""

    # Every handled event reads its tenant's ledger: keep recent ones in memory (fast-forwarded
    # from the store on each read, so another replica's writes are seen). Commands mutate the
    # cached ledger itself rather than a deep copy (a copy costs O(history) per event); a
    # command that fails after mutating it evicts it (`forget`), and queries read a copy.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}

    def ledger(self, tenant_id: str, copy: bool = False) -> Ledger:
        """The tenant's ledger in the current period; a tenant seen for the first time is opened
        on the default plan, and a new period starts with the plan's monthly credits. `copy`
        for reading only: commands get the cached ledger itself."""
        ledger: Ledger | None = self._load_or_none(Ledger.create_id(tenant_id))
        if ledger is None:
            ledger = Ledger(tenant_id=tenant_id, plan=DEFAULT_PLAN)
        elif copy:
            ledger = deepcopy(ledger)
        ledger.start_period(period_of(self.clock()), cause="")
        return ledger

    async def settled(self, tenant_id: str) -> None:
        """Wait (a few commits, at most `SETTLE_WAIT_S`) until the tenant's ledger holds no staged,
        uncommitted change, so a query does not show what a failed commit would take back. Read
        it next, with no await in between. Under a steady stream of the tenant's own events the
        wait gives up and the query reads the ledger as the consumers left it."""
        await self.until_settled(Ledger.create_id(tenant_id), SETTLE_WAIT_S)

    def forget(self, tenant_id: str) -> None:
        """Drop the cached ledger (after a command failed half-way); the next read replays the store."""
        self.forget_aggregate(Ledger.create_id(tenant_id))

    def balance(self, tenant_id: str) -> int:
        return self.ledger(tenant_id, copy=True).balance

    # -- the run saga ---------------------------------------------------------------------------

    def admit(self, ev: RunRequested) -> None:
        """Reserve the run's estimate, or deny it when the balance or the concurrency is short."""
        ledger = self.ledger(ev.tenant_id)
        if ledger.has_seen(ev.event_id) or (ev.run_id or "") in ledger.reservations:
            return
        p = ev.payload
        # The documents and datasets the run names are read into its context (an unset list
        # searches whatever the tenant has, priced as searches). Read defensively: not every
        # version of the run contract carries them.
        named = [getattr(p, field, None) or () for field in ("attachments", "documents", "datasets")]
        estimate = estimate_run(p.depth, p.max_sources, attachments=sum(len(n) for n in named))
        # The gateway checks the plan before accepting a run; billing decides (a plan changed
        # since, or a run requested around the gateway, ends here).
        refusal = plan_named(ledger.plan).refusal(p.depth, p.max_sources, p.sources)
        if refusal is not None:
            ledger.refuse(ev.run_id or "", estimate, refusal, cause=ev.event_id)
            entry("denied", estimate, ev.run_id or "")
        else:
            ledger.reserve(ev.run_id or "", estimate, cause=ev.event_id, actor=actor_of(ev))
            entry("reserved", estimate, ev.run_id or "")
        self._save(ledger)

    def meter(self, ev: UsageRecorded) -> None:
        """Record a usage event's credits once, against its run's reservation; the platform's
        own usage (a rollout's shadow task) on the platform's ledger, never the tenant's."""
        u = ev.payload
        platform = u.billed_to == "platform"
        ledger = self.ledger(PLATFORM_LEDGER if platform else ev.tenant_id)
        if ev.event_id in ledger.metered:
            return
        credits = usage_credits(u.tokens_in + u.tokens_out, u.search_calls, u.seconds, u.tool)
        # The platform's usage belongs to no reservation: no run settles it, no tenant pays it.
        ledger.meter(None if platform else ev.run_id, ev.event_id, credits, cause=ev.event_id, tool=u.tool)
        entry("metered", credits, ev.run_id or "", tool=u.tool)
        self._save(ledger)
        if platform:
            count_platform_credits(u.kind, credits)

    def close_run(self, ev: RunCompleted | RunCancelled | RunFailed | RunExpired | RunRejected) -> None:
        """Settle the run by `who_pays.WHO_PAYS`: charge its metered usage and release the rest
        of the reservation, or refund the reservation in full (a failure of the platform's)."""
        ledger = self.ledger(ev.tenant_id)
        res = ledger.reservations.get(ev.run_id or "")
        if res is None and (ev.run_id or "") not in ledger.denied_runs and not ledger.has_seen(ev.event_id):
            # Overtook its own admission (a replay, a redelivery): settling now would leave the
            # reservation made later open forever.
            raise NotReady(f"run {ev.run_id} has not been admitted yet")
        if ledger.has_seen(ev.event_id) or res is None or res.closed:
            return
        outcome = ev.type.removeprefix("run.")
        if settlement(outcome, ev.payload.fault if isinstance(ev, RunFailed) else None) == "charge":
            missing = ledger.missing_usage(ev.payload.usage_event_ids)
            if missing:
                raise NotReady(f"{len(missing)} usage event(s) of run {ev.run_id} not metered yet")
            ledger.settle(res.run_id, ev.payload.usage_event_ids, cause=ev.event_id, actor=actor_of(ev))
        else:
            reason = f"run {outcome}: {getattr(ev.payload, 'reason', '')}"[:300]
            ledger.refund(res.run_id, reason=reason, cause=ev.event_id, actor=actor_of(ev))
        self._closed(ledger, res.run_id)
        self._save(ledger)

    # -- follow-up questions (the saga's correlation id is the question id) --------------------

    def ask_question(self, ev: QuestionAsked) -> None:
        """Hold a question's estimate, or deny it when the balance cannot cover it."""
        ledger = self.ledger(ev.tenant_id)
        q = ev.payload
        if ledger.has_seen(ev.event_id) or q.question_id in ledger.reservations or q.question_id in ledger.denied_runs:
            return
        estimate = estimate_question()
        ledger.reserve_question(q.question_id, q.run_id, estimate, cause=ev.event_id, actor=actor_of(ev))
        entry("reserved", estimate, q.question_id)
        self._save(ledger)

    def close_question(self, ev: QuestionAnswered | QuestionFailed) -> None:
        """Settle an answered question against its usage and refund the rest; refund a failed one."""
        ledger = self.ledger(ev.tenant_id)
        q = ev.payload
        res = ledger.reservations.get(q.question_id)
        if res is None and q.question_id not in ledger.denied_runs and not ledger.has_seen(ev.event_id):
            raise NotReady(f"question {q.question_id} has not been asked yet")
        if ledger.has_seen(ev.event_id) or res is None or res.closed:
            return
        if isinstance(ev, QuestionAnswered):
            missing = ledger.missing_usage(q.usage_event_ids)
            if missing:
                raise NotReady(f"{len(missing)} usage event(s) of question {q.question_id} not metered yet")
            ledger.settle(res.run_id, q.usage_event_ids, cause=ev.event_id, actor=actor_of(ev))
        else:
            reason = f"question failed: {ev.payload.reason}"[:300]
            ledger.refund(res.run_id, reason=reason, cause=ev.event_id, actor=actor_of(ev))
        self._closed(ledger, res.run_id)
        self._save(ledger)

    @staticmethod
    def _closed(ledger: Ledger, reservation_id: str) -> None:
        """The entries a reservation's close made: what it settled and what it gave back."""
        closed = ledger.reservations.get(reservation_id)
        if closed is not None:
            if closed.settled:
                entry("settled", closed.settled, reservation_id)
            if closed.refunded:
                entry("refunded", closed.refunded, reservation_id)

    # -- payments (Stripe, or the mock checkout) ----------------------------------------------

    def purchase(
        self,
        tenant_id: str,
        pack: str,
        reference: str,
        cause: str,
        actor: str = STRIPE,
        customer_id: str | None = None,
    ) -> bool:
        """Credit a bought pack once per `cause` (the Stripe event id); False when seen before."""
        found = PACKS.get(pack)
        if found is None:
            raise LedgerError(f"unknown credit pack {pack!r}")
        ledger = self.ledger(tenant_id)
        if ledger.has_seen(cause):
            return False
        if customer_id:
            ledger.link_customer(customer_id, ledger.subscription_id, cause=cause)
        ledger.purchase(found.name, found.credits, reference, cause=cause, actor=actor)
        self._save(ledger)
        return True

    def subscribe(
        self,
        tenant_id: str,
        plan: str,
        cause: str,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        as_of: int = 0,
    ) -> bool:
        """Put the tenant on `plan` (an upgrade grants the difference for this period)."""
        if plan not in PLANS:
            raise LedgerError(f"unknown plan {plan!r}")
        ledger = self.ledger(tenant_id)
        if ledger.has_seen(cause):
            return False
        if customer_id:
            ledger.link_customer(customer_id, subscription_id or ledger.subscription_id, cause=cause)
        ledger.change_plan(plan, cause=cause, actor=STRIPE, as_of=as_of)
        if not ledger.has_seen(cause):
            return False  # nothing changed: nothing to record
        self._save(ledger)
        return True

    def take_back(self, tenant_id: str, charge_id: str, credits_refunded: int, cause: str) -> bool:
        """A refunded payment takes back its credits: `credits_refunded` is the charge's running
        total, so a repeated or overtaken refund event takes back nothing more."""
        ledger = self.ledger(tenant_id)
        if ledger.has_seen(cause):
            return False
        delta = credits_refunded - ledger.taken_back.get(charge_id, 0)
        if delta <= 0:
            return False
        ledger.take_back(charge_id, delta, cause=cause, actor=STRIPE)
        self._save(ledger)
        return True

    def stored_entries(self, tenant_id: str, after: int, limit: int) -> list[Any]:
        """The ledger's stored events after a version, oldest first."""
        events = self.repository.event_store.get(Ledger.create_id(tenant_id), gt=after or None, limit=limit)
        return list(events)
