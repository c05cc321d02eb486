"""The gateway's read models catch up with the event stream by themselves.

The live consumers apply each event as it arrives, but an event can still miss the views: it was
dead-lettered for the gateway (a fault taken for the message's own, a process that died while
handling it), a consumer was deleted and recreated, the database lost its newest commits or was
restored from a backup. So each projection (one per gateway consumer, the same filter subject)
also has a position: the stream sequence up to which every one of its messages is known to be in
the views. A pass reads each projection's subject again from its position to the end of the
stream through a short-lived consumer of its own (`contracts.consumers.READERS`), applies what it
reads with the same code as the live path (`project`, or its bulk form for runs' logs), and moves
the position on. Applying an event that is already there changes nothing, so a pass that repeats
the live consumers' work is harmless, and in the steady state costs an insert that inserts nothing
per batch.

A pass runs at start-up (whatever happened while the gateway was down), when the store comes back
after an outage, when a message is dead-lettered for the gateway, and every `interval_s` (a
position that lags the stream for any other reason). The path `quarry replay` takes, into live
tables and from a stored position.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from contracts import consumers, subjects
from contracts.envelope import Event
from contracts.registry import parse_event
from quarry_runtime.bus import SCHEDULED_SUBJECTS, inbox_prefix
from quarry_runtime.errors import Unavailable
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.positions import Positions
from services.gateway.readmodels.projection import CONSUMERS, RunFeed, for_run_log, project
from services.gateway.readmodels.store import GatewayStore

log = logging.getLogger(__name__)

SERVICE = "gateway"
# (projection, its reader): a projection is named for the live consumer whose subject it covers.
PROJECTIONS = tuple((live.durable, consumers.reader(SERVICE, live.subject)) for live in CONSUMERS)
FETCH_BATCH = 500
FETCH_TIMEOUT_S = 5.0
# A reader left behind by a process that died mid-pass goes away by itself after this long.
READER_INACTIVE_S = 60.0
# An event that fails on its own content in this many passes is left where the live consumer left
# it (the dead letters), rather than holding its projection's position back for ever.
GIVE_UP_PASSES = 3
FAILURE_LOG_INTERVAL_S = 60.0


@dataclass(slots=True)
class PassReport:
    """What one pass did, per projection and in all."""

    positions: dict[str, int] = field(default_factory=dict)
    read: int = 0
    new_run_events: int = 0
    unparsable: int = 0
    given_up: int = 0
    seconds: float = 0.0


class Stretch(NamedTuple):
    """What a pass reads of one projection: `reader.subject` after `start`, up to `end` at least."""

    projection: str
    reader: consumers.Consumer
    start: int
    end: int


class CatchUp:
    """Runs catch-up passes over the gateway's projections when something says views may lag."""

    def __init__(
        self,
        store: GatewayStore,
        monitors: MonitorStore,
        positions: Positions,
        feed: RunFeed,
        jetstream: Callable[[], JetStreamContext],
        *,
        interval_s: float,
        check_s: float,
    ) -> None:
        self._store, self._monitors, self._positions, self._feed = store, monitors, positions, feed
        self._jetstream = jetstream
        self._interval_s, self._check_s = interval_s, check_s
        self._due = True  # the first pass: whatever happened while the gateway was down
        self._store_lost = False
        self._last_pass = -float("inf")
        self._deadletters: int | None = None
        self._failures: dict[tuple[str, int], int] = {}
        self._logged: dict[str, float] = {}
        self.passes = 0
        self.last: PassReport | None = None

    # -- what makes a pass due -------------------------------------------------------------------

    def store_failed(self) -> None:
        """The live path could not reach the store (its message waits in the stream, redelivered)."""
        self._store_lost = True

    def store_ok(self) -> None:
        """The live path reached the store: after an outage, check nothing was left behind."""
        if self._store_lost:
            self._store_lost = False
            self._due = True

    async def _deadletters_grew(self, js: JetStreamContext) -> bool:
        info = await js.stream_info(subjects.DEADLETTER_STREAM, subjects_filter=subjects.deadletter(SERVICE))
        count = sum((info.state.subjects or {}).values())
        grew = self._deadletters is not None and count > self._deadletters
        self._deadletters = count
        return grew

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a pass whenever one is due, checking every `check_s`."""
        while not stop.is_set():
            try:
                js = self._jetstream()
                grew = await self._deadletters_grew(js)
                if self._due or grew or time.monotonic() - self._last_pass >= self._interval_s:
                    self.last = await self.catch_up(js)
                    self._due, self._last_pass = False, time.monotonic()
                    self.passes += 1
                    if self.last.new_run_events:
                        log.warning(
                            "catch-up: %d event(s) the live consumers had missed are in the views now",
                            self.last.new_run_events,
                        )
            except Unavailable as exc:
                # Tried again at the next check: the store may come back with no live event to say so.
                self._due = True
                self._log_once("store", "catch-up waits for the store: %s", exc)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                self._due = True
                self._log_once("bus", "catch-up waits for the event stream: %s", exc)
            except Exception:
                # A fault of ours must not end the task for the life of the process: logged, retried.
                self._due = True
                log.exception("catch-up pass failed")
            # asyncio.timeout, not wait_for, which on Python 3.11 can swallow a cancel.
            with suppress(TimeoutError):
                async with asyncio.timeout(self._check_s):
                    await stop.wait()

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._logged.get(key, -FAILURE_LOG_INTERVAL_S) >= FAILURE_LOG_INTERVAL_S:
            self._logged[key] = now
            log.warning(message, *args)

    # -- a pass ----------------------------------------------------------------------------------

    async def catch_up(self, js: JetStreamContext) -> PassReport:
        """Bring every projection up to the end of the stream as it is now; returns what it did."""
        started = time.monotonic()
        report = PassReport()
        end = (await js.stream_info(subjects.STREAM)).state.last_seq
        positions = await asyncio.to_thread(self._positions.all)
        for projection, reader in PROJECTIONS:
            start = positions.get(projection, 0)
            if start > end:
                # Past the end of the stream: the stream was deleted and made again, and its sequences
                # started over. Everything in it is read again (harmless: what is in the views stays).
                log.warning(
                    "catch-up: %s's position %d is past the stream's end %d: reading it all", projection, start, end
                )
                await asyncio.to_thread(self._positions.reset, projection)
                start = 0
            if start < end:
                start = await self._catch_up_one(js, Stretch(projection, reader, start, end), report)
            report.positions[projection] = start
        report.seconds = time.monotonic() - started
        return report

    async def _catch_up_one(self, js: JetStreamContext, stretch: Stretch, report: PassReport) -> int:
        """Read the stretch of its projection's subject; returns the position reached."""
        projection, reader, start, end = stretch
        # A reader of the same name left by another replica's pass (or a dead process) would deliver
        # from its own start: replaced. That pass fails and is retried; positions only move forward.
        with suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(subjects.STREAM, reader.durable)
        config = ConsumerConfig(
            name=reader.durable,
            filter_subject=reader.subject,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=READER_INACTIVE_S,
            mem_storage=True,
        )
        info = await js.add_consumer(subjects.STREAM, config)
        reached = start
        try:
            if info.num_pending == 0:
                # Nothing of this subject after `start` up to the end as it was: the position is the end.
                reached = end
            else:
                reached = await self._read(js, stretch, report)
        finally:
            with suppress(nats.errors.Error):
                await js.delete_consumer(subjects.STREAM, reader.durable)
        if reached > start:
            await asyncio.to_thread(self._positions.advance, projection, reached)
        return reached

    async def _read(self, js: JetStreamContext, stretch: Stretch, report: PassReport) -> int:
        projection, reader, start, end = stretch
        sub = await js.pull_subscribe_bind(
            stream=subjects.STREAM, name=reader.durable, inbox_prefix=f"{inbox_prefix(SERVICE)}.".encode()
        )
        reached = start
        try:
            while reached < end:
                try:
                    batch = await sub.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_S)
                except nats.errors.TimeoutError:
                    break
                if not batch:
                    break
                messages = [(m.metadata.sequence.stream, m.subject, m.headers or {}, m.data) for m in batch]
                applied, grew = await asyncio.to_thread(self._apply, projection, messages, report)
                if grew:
                    await self._feed.notify()
                if applied < len(messages):  # stopped at an event that failed: resume there next pass
                    return messages[applied - 1][0] if applied else reached
                reached = messages[-1][0]
                await asyncio.to_thread(self._positions.advance, projection, reached)
                if batch[-1].metadata.num_pending == 0:
                    # Nothing more of this subject in the stream: every message up to its end is read.
                    reached = max(reached, end)
                    break
        finally:
            with suppress(nats.errors.Error):
                await sub.unsubscribe()
        return reached

    def _apply(
        self, projection: str, messages: Sequence[tuple[int, str, dict[str, str], bytes]], report: PassReport
    ) -> tuple[int, bool]:
        """Apply a batch in a worker thread; returns (how many of its messages are applied, whether
        a run's log or a question grew). Unavailable propagates: the pass stops and waits."""
        events: list[tuple[int, Event]] = []
        for seq, subject, headers, data in messages:
            report.read += 1
            event = readable(subject, headers, data)
            if event is None:
                report.unparsable += 1
                continue
            events.append((seq, event))
        try:
            return len(messages), self._apply_events([event for _, event in events], report)
        except Unavailable:
            raise
        except Exception:
            log.exception("catch-up: a batch of %s failed, applying its events one by one", projection)
        grew = False
        done = 0
        for seq, subject, headers, data in messages:
            event = readable(subject, headers, data)
            if event is not None:
                try:
                    grew = self._apply_events([event], report) or grew
                except Unavailable:
                    raise
                except Exception:
                    failures = self._failures.get((projection, seq), 0) + 1
                    self._failures[(projection, seq)] = failures
                    if failures < GIVE_UP_PASSES:
                        log.exception("catch-up: %s #%d failed (%d time(s)), retried next pass", subject, seq, failures)
                        return done, grew
                    log.error("catch-up: %s #%d failed %d times: left to the dead letters", subject, seq, failures)
                    report.given_up += 1
            done += 1
        return done, grew

    def _apply_events(self, events: list[Event], report: PassReport) -> bool:
        run_log = [event for event in events if for_run_log(event)]
        grew = False
        for event in events:
            if not for_run_log(event):
                grew = project(self._store, self._monitors, event) or grew
        added = self._store.record_run_events(run_log)
        report.new_run_events += added
        return grew or added > 0


def readable(subject: str, headers: Mapping[str, str], data: bytes) -> Event | None:
    """The event a message carries, or None for what the live consumers dead-letter on sight: a
    malformed message, or one a JetStream schedule fired on a subject no schedule may fire."""
    if "Nats-Scheduler" in headers and subject not in SCHEDULED_SUBJECTS:
        return None
    try:
        return parse_event(data)
    except (ValidationError, ValueError, KeyError):
        return None
