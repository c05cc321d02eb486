"""Rebuild many runs at once from the notification log, in large batches.

`app.repository.get` costs one query per run; recovering thousands of runs (a cold start, a
migration, an audit over every run) that way pays a round trip per run. Here the whole log is
read in `batch`-sized pages, one query each, and every run's events are folded in the order
the log holds them, with the same `mutate` calls the repository's projector makes, so each
rebuilt `Run` equals what `repository.get` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.utils import get_topic

from services.orchestrator.application import Orchestrator
from services.orchestrator.domain import Run

# Every Run event's topic is the aggregate's topic and the event class's name; the log also
# holds other aggregates' events (monitors), which are skipped before they are decoded.
RUN_EVENT_TOPIC = get_topic(Run) + "."


def rebuild_runs(app: Orchestrator, run_ids: Iterable[str] | None = None, batch: int = 5000) -> dict[str, Run]:
    """Every run in `app`'s log (or only those in `run_ids`), by run id, at its latest version.

    It always scans the whole log: filtering by run only skips decoding the other runs'
    events, so for one or a few runs `Orchestrator.get_run` is the cheaper read. Events
    appended while the scan runs may or may not be included; a run is never folded from a
    log with a hole, since `mutate` refuses an event whose version does not follow on.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    wanted = None if run_ids is None else {str(Run.create_id(run_id)) for run_id in run_ids}
    # Keyed by the originator id as the recorder gives it (str on SQLite, UUID on
    # PostgreSQL): converting every notification's id would cost more than the lookups.
    folded: dict[Any, Any] = {}
    skipped: set[Any] = set()
    recorder, mapper = app.recorder, app.mapper
    start = 1
    while True:
        notifications = recorder.select_notifications(start=start, limit=batch)
        for notification in notifications:
            if not notification.topic.startswith(RUN_EVENT_TOPIC):
                continue
            originator = notification.originator_id
            if wanted is not None:
                if originator in skipped:
                    continue
                if originator not in folded and str(originator) not in wanted:
                    skipped.add(originator)
                    continue
            domain_event: Any = mapper.to_domain_event(notification)
            # The first event's mutate(None) creates the run; each later one checks that it is
            # the next version and applies itself, exactly as the repository's projector does.
            folded[originator] = domain_event.mutate(folded.get(originator))
        if len(notifications) < batch:
            break
        start = notifications[-1].id + 1
    return {run.run_id: run for run in folded.values()}
