"""The reporter's lane: one report task in, the rendered report stored and announced."""

from __future__ import annotations

from contracts.task import TaskDispatched
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.worker import TaskError, WorkResult, lane
from services.reporter.application import publish_report
from services.reporter.domain.errors import PiiBlocked
from services.reporter.translate import pii_trip


def subscriptions(bus: Bus, artifacts: ArtifactStore) -> list[Subscription]:
    async def execute(task: TaskDispatched) -> WorkResult:
        try:
            return await publish_report(task, bus, artifacts)
        except PiiBlocked as exc:
            # The tenant's own policy stopped a report already researched: charged, not refunded.
            raise TaskError(str(exc), trip=pii_trip(exc.found, blocked=True), fault="tenant") from exc

    return [lane(bus, "reporter", execute)]
