"""Bus subscribers of billing: contract in -> use case. Durable names are in contracts.consumers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import consumers, subjects
from quarry_runtime.bus import Subscription
from quarry_runtime.eventsourced import use_case_handler
from services.billing.application import Billing
from services.billing.errors import BillingError

# The fetch size of the usage subscription (the bench's raw consumer fetches as many). A fetched
# batch is handled whole, as one group commit, before the next fetch: each batch pays a commit (an
# fsync on SQLite), a fast-forward read of each tenant's ledger and a fetch round trip, so larger
# fetches meter more per second (3,000 events: 24 commits instead of 188). Metering is quick and
# never waits on other events (no NotReady), so a large batch holds nothing back.
USAGE_BATCH = 128


def subscriptions(app: Billing) -> list[Subscription]:
    """What billing consumes: each use case, and the subjects that carry its events."""
    routes: list[tuple[Callable[[Any], None], tuple[str, ...]]] = [
        (app.admit, (subjects.RUN_REQUESTED,)),
        (app.meter, (subjects.USAGE_RECORDED,)),
        (
            app.close_run,
            (
                subjects.RUN_COMPLETED,
                subjects.RUN_FAILED,
                subjects.RUN_CANCELLED,
                subjects.RUN_EXPIRED,
                subjects.RUN_REJECTED,
            ),
        ),
        (app.ask_question, (subjects.QUESTION_ASKED,)),
        (app.close_question, (subjects.QUESTION_ANSWERED, subjects.QUESTION_FAILED)),
    ]
    return [
        Subscription(
            subject,
            consumers.durable("billing", subject),
            use_case_handler(app, use_case, rejected=(BillingError,)),
            batch=USAGE_BATCH if subject == subjects.USAGE_RECORDED else Subscription.batch,
        )
        for use_case, carried_by in routes
        for subject in carried_by
    ]
