"""Bus subscribers of billing: contract in -> use case. Durable names are in contracts.consumers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import consumers, subjects
from quarry_runtime.bus import Subscription
from quarry_runtime.eventsourced import use_case_handler
from services.billing.application import Billing
from services.billing.errors import BillingError

# The fetch size of the usage subscription (the bench's raw consumer fetches as many). Larger
# fetches commit fewer groups, but a fetched batch is handled whole before the next fetch, and
# through the bus they metered no faster.
USAGE_BATCH = 16


def subscriptions(app: Billing) -> list[Subscription]:
    """What billing consumes, and which use case each goes to."""
    table: list[tuple[str, Callable[[Any], None]]] = [
        (subjects.RUN_REQUESTED, app.admit),
        (subjects.USAGE_RECORDED, app.meter),
        (subjects.RUN_COMPLETED, app.close_run),
        (subjects.RUN_FAILED, app.close_run),
        (subjects.RUN_CANCELLED, app.close_run),
        (subjects.RUN_EXPIRED, app.close_run),
        (subjects.RUN_REJECTED, app.close_run),
        (subjects.QUESTION_ASKED, app.ask_question),
        (subjects.QUESTION_ANSWERED, app.close_question),
        (subjects.QUESTION_FAILED, app.close_question),
    ]
    return [
        Subscription(
            subject,
            consumers.durable("billing", subject),
            use_case_handler(app, use_case, rejected=(BillingError,)),
            batch=USAGE_BATCH if subject == subjects.USAGE_RECORDED else Subscription.batch,
        )
        for subject, use_case in table
    ]
