"""The transactional outbox: publish a service's stored events from its notification log.

The aggregate's events and its notification log are written in one transaction by
eventsourcing; this relay reads the log in order and publishes the contract events the
service's `translate` gives for each, with ids derived from the stored event so a
re-publish after a crash is de-duplicated by JetStream. Its position is a tracking record
in the same database, written after the publishes it covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, ProcessRecorder, Tracking

from contracts.envelope import Event
from quarry_runtime.bus import Bus
from quarry_runtime.errors import Unavailable
from quarry_runtime.recorders import is_outage

log = logging.getLogger(__name__)


class Outgoing(NamedTuple):
    """One contract event to publish: now on `subject`, or as a durable timer due `at`."""

    event: Event
    subject: str
    at: datetime | None = None


Translate = Callable[[DomainEventProtocol[Any]], Sequence[Outgoing]]
# Told of each stored event and what it became once the relay has recorded its position, for
# counting: of the replicas relaying one log, only the one whose record covers an event first is
# told (two recording at the same instant may both be).
Relayed = Callable[[DomainEventProtocol[Any], Sequence[Outgoing]], None]

RELAY_NAME = "outbox-relay"
OUTAGE_LOG_INTERVAL_S = 30.0


class OutboxApplication(Application[Any]):
    """An eventsourcing Application whose recorder can also keep the relay's position."""

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()


def aggregate_at(app: Application[Any]) -> Callable[[Any, int], Any]:
    """Look up an aggregate as it was at a version: what a translation needs to describe an event."""

    def at(originator_id: Any, version: int) -> Any:
        return app.repository.get(originator_id, version=version)

    return at


class OutboxRelay:
    """Publishes every stored event of `app`, in log order, exactly as `translate` maps it."""

    def __init__(
        self, app: OutboxApplication, bus: Bus, translate: Translate, batch: int = 100, relayed: Relayed | None = None
    ) -> None:
        self.app = app
        self.bus = bus
        self.translate = translate
        self.batch = batch
        self.relayed = relayed
        self._wake = asyncio.Event()
        self._recorder: ProcessRecorder = app.recorder  # type: ignore[assignment]

    def wake(self) -> None:
        """Called after a save so the relay publishes without waiting for its next poll."""
        self._wake.set()

    @property
    def position(self) -> int:
        return self._recorder.max_tracking_id(RELAY_NAME) or 0

    async def run_once(self) -> int:
        """Publish what is pending; returns how many notifications it covered."""
        start = self.position + 1
        notifications = self._recorder.select_notifications(start=start, limit=self.batch)
        if not notifications:
            return 0
        done: list[tuple[int, Any, Sequence[Outgoing]]] = []
        try:
            for notification in notifications:
                domain_event = self.app.mapper.to_domain_event(notification)
                outgoing = self.translate(domain_event)
                for out in outgoing:
                    if out.at is None:
                        await self.bus.publish(out.event, out.subject)
                    else:
                        await self.bus.schedule(out.event, out.at)
                done.append((notification.id, domain_event, outgoing))
        except Unavailable:
            # The bus refused a publish (away, or its store full) part-way through the batch:
            # record what did go out, so a long outage does not re-publish it after JetStream's
            # duplicate window has passed.
            if done:
                with contextlib.suppress(Exception):
                    self._track(notifications[len(done) - 1].id, done)
            raise
        self._track(notifications[-1].id, done)
        return len(notifications)

    def _track(self, notification_id: int, done: Sequence[tuple[int, Any, Sequence[Outgoing]]]) -> None:
        covered = self.position if self.relayed is not None else 0  # by another replica's relay meanwhile
        try:
            self._recorder.insert_tracking(Tracking(application_name=RELAY_NAME, notification_id=notification_id))
        except IntegrityError:
            # Another replica's relay recorded this position first; it published the same
            # events with the same ids, which JetStream de-duplicated.
            log.debug("outbox position %d recorded by another relay", notification_id)
            return
        if self.relayed is not None:
            for relayed_id, domain_event, outgoing in done:
                if relayed_id > covered:
                    self.relayed(domain_event, outgoing)

    async def run(self, poll_s: float = 0.25) -> None:
        """Relay forever; bus faults and database outages are retried from the last recorded
        position (an outage is logged once per interval, not once per attempt)."""
        outage_logged = -OUTAGE_LOG_INTERVAL_S
        me = asyncio.current_task()
        while True:
            # A cancel can be lost inside a publish (on Python 3.11 a `wait_for` whose future
            # completes as the cancel lands swallows it): the task still counts it, so stop here
            # rather than relay on past its service's stop.
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            try:
                if await self.run_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, Unavailable):
                    away = str(exc)  # the bus (Bus.publish says which way)
                elif is_outage(exc):
                    away = f"the event store is unreachable ({exc})"
                else:
                    log.exception("outbox relay failed; retrying")
                    away = ""
                if away and time.monotonic() - outage_logged >= OUTAGE_LOG_INTERVAL_S:
                    outage_logged = time.monotonic()
                    log.warning("outbox relay: %s; retrying", away)
                await asyncio.sleep(1.0)
                continue
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel that lands as wait_for's
            # time-out fires is swallowed, and the relay would outlive its service's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await self._wake.wait()
