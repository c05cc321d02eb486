"""The tenant's plan entitlements, asked of billing and kept a few seconds, and the checks the
gateway makes with them before it accepts a run, a monitor, a dataset or an upload.

Billing is the authority: it checks a run's plan again at admission, so a request that races
a plan change or another run ends `rejected` there. These checks exist so that what the plan
does not allow is refused with its reason before a 202 and creates nothing. A refusal is
always decided on a fresh answer (an upgrade a moment ago counts at once); an acceptance may
rest on one up to `ttl_s` old. When billing does not answer, the gateway accepts and leaves
the decision to billing's admission rather than stop every tenant's runs; it then does not ask
again for `ttl_s` (at least a second), so a billing that hangs costs one time-out, not one per
request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from contracts import subjects
from contracts.billing import Entitlements, EntitlementsQuery, EntitlementsReply
from quarry_runtime import replies
from quarry_runtime.errors import Unavailable as NoAnswer
from services.gateway.errors import Forbidden, GatewayError, TooLarge, Unavailable

log = logging.getLogger(__name__)

Ask = Callable[[EntitlementsQuery], Awaitable[Entitlements]]
MAX_CACHED = 10_000  # answers kept at once; the oldest go first
ASK_TIMEOUT_S = 1.0
MIN_BACKOFF_S = 1.0


class PaymentRequired(GatewayError):
    """The tenant's credits do not cover it: buying credits or a plan would."""

    status_code = 402


class PlanForbids(Forbidden):
    """The tenant's plan does not allow it (a limit or a feature of the plan)."""


class QuotaExceeded(TooLarge):
    """An upload would take the tenant past the bytes its plan keeps."""


class EntitlementsCache:
    """Billing's answers by query, each kept `ttl_s` seconds."""

    def __init__(self, ask: Ask, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ask = ask
        self.ttl_s = ttl_s
        self.clock = clock
        self._kept: dict[EntitlementsQuery, tuple[float, Entitlements]] = {}
        self._silent_until = 0.0  # billing did not answer: not asked again before this
        self._asking: dict[EntitlementsQuery, asyncio.Future[Entitlements]] = {}

    async def get(self, query: EntitlementsQuery, fresh: bool = False) -> Entitlements:
        now = self.clock()
        kept = self._kept.get(query)
        if kept is not None and not fresh and now - kept[0] < self.ttl_s:
            return kept[1]
        if now < self._silent_until:
            raise Unavailable("billing did not answer a moment ago")
        if fresh:
            # A fresh answer is one asked after this call began: never an ask already under way.
            return await self._ask(query, now)
        # Requests that find the same answer expired at once wait for one ask, not one each.
        asking = self._asking.get(query)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(query, now))
            self._asking[query] = asking
            asking.add_done_callback(lambda _: self._asking.pop(query, None))
        return await asyncio.shield(asking)

    async def _ask(self, query: EntitlementsQuery, now: float) -> Entitlements:
        try:
            answer = await self.ask(query)
        except Unavailable:
            self._silent_until = self.clock() + max(self.ttl_s, MIN_BACKOFF_S)
            raise
        self._kept.pop(query, None)
        self._kept[query] = (now, answer)
        while len(self._kept) > MAX_CACHED:
            self._kept.pop(next(iter(self._kept)))
        return answer

    async def check(self, query: EntitlementsQuery, problem: Callable[[Entitlements], GatewayError | None]) -> None:
        """Raise what `problem` finds in the tenant's entitlements, confirmed on a fresh answer."""
        try:
            found = problem(await self.get(query))
            if found is not None:
                found = problem(await self.get(query, fresh=True))
        except Unavailable as exc:
            log.warning("entitlements of tenant %s unknown (%s): billing's admission decides", query.tenant_id, exc)
            return
        if found is not None:
            raise found


def billing_ask(request: replies.Request) -> Ask:
    """An `Ask` over core-NATS request/reply; `request(subject, data, timeout=...)` is the connection's."""

    async def ask(query: EntitlementsQuery) -> Entitlements:
        try:
            reply = await replies.ask(
                request, subjects.BILLING_ENTITLEMENTS, query, EntitlementsReply, who="billing", timeout_s=ASK_TIMEOUT_S
            )
        except NoAnswer as exc:
            raise Unavailable(str(exc)) from exc
        if reply.entitlements is None:
            raise Unavailable(f"billing could not tell the entitlements: {reply.error}")
        return reply.entitlements

    return ask


# -- what each request may not exceed -------------------------------------------------------


def run_problem(
    depth: int, max_sources: int, sources: Sequence[str] | None
) -> Callable[[Entitlements], GatewayError | None]:
    """What stops a run of this shape: the plan's depth, sources, web access, concurrency, credits."""

    def problem(e: Entitlements) -> GatewayError | None:
        shape = shape_problem(e, depth, max_sources, sources)
        if shape is not None:
            return shape
        if e.open_runs >= e.concurrency:
            return PlanForbids(
                f"{e.open_runs} runs already hold credits; the {e.plan} plan allows {e.concurrency} at once"
            )
        if e.estimate is not None and e.estimate > e.available:
            return PaymentRequired(f"the run needs up to {e.estimate} credits and {max(0, e.available)} are available")
        return None

    return problem


def shape_problem(e: Entitlements, depth: int, max_sources: int, sources: Sequence[str] | None) -> GatewayError | None:
    """What of a run's shape the plan does not allow (the runs a monitor fires have one too)."""
    if depth > e.max_depth:
        return PlanForbids(f"the {e.plan} plan allows research depth up to {e.max_depth}, not {depth}")
    if max_sources > e.max_sources:
        return PlanForbids(f"the {e.plan} plan allows up to {e.max_sources} sources a run, not {max_sources}")
    if sources and "web" in sources and not e.web:
        return PlanForbids(f"the {e.plan} plan does not include web research; upgrade to search the web")
    return None


def count_problem(
    what: str, have: int, limit_of: Callable[[Entitlements], int]
) -> Callable[[Entitlements], GatewayError | None]:
    """A plan's cap on how many of `what` a tenant keeps."""

    def problem(e: Entitlements) -> GatewayError | None:
        limit = limit_of(e)
        if have >= limit:
            return PlanForbids(f"the {e.plan} plan allows {limit} {what} and the tenant has {have}")
        return None

    return problem


def upload_problem(documents: int, stored_bytes: int, size: int) -> Callable[[Entitlements], GatewayError | None]:
    """The plan's quota of uploaded documents, by number and by bytes."""

    def problem(e: Entitlements) -> GatewayError | None:
        if documents >= e.max_documents:
            return PlanForbids(f"the {e.plan} plan keeps {e.max_documents} documents and the tenant has {documents}")
        if stored_bytes + size > e.max_document_bytes:
            return QuotaExceeded(
                f"this upload of {size} bytes would take the tenant's documents to {stored_bytes + size} bytes;"
                f" the {e.plan} plan keeps {e.max_document_bytes}"
            )
        return None

    return problem


def monitor_problem(
    have: int, depth: int, max_sources: int, sources: Sequence[str] | None
) -> Callable[[Entitlements], GatewayError | None]:
    """A plan's cap on monitors, and the shape of the runs the monitor would fire."""
    count = count_problem("monitors", have, lambda e: e.max_monitors)
    return lambda e: count(e) or shape_problem(e, depth, max_sources, sources)
