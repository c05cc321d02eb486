"""Re-arms durable timers that JetStream holds past their due time.

A durable timer (`Bus.schedule`) is a JetStream scheduled message on `timer.v1.schedule.<event
id>`; it stays in the event stream until the server fires it, and is removed then. So the stream
itself lists the pending timers, and one whose due time is well past is stuck: nats-server 2.15.1
never fires a schedule that came due while its store refused writes (a full volume) until the
server restarts, and a run whose task timeout, retry or approval deadline fell in the outage
would wait for ever. Publishing the schedule again on its subject (same body, schedule and
target; a fresh Nats-Msg-Id, or JetStream would drop it as a duplicate) replaces it, since the
server rolls a schedule's subject up, and it fires.

Firing twice is harmless: a TimerFired has a fixed event id and the aggregates ignore an event
id they have applied. Several replicas may sweep at once: each names the re-arm of a stuck
message the same way (`schedule-<event id>-rearm-<n>`), so JetStream keeps one of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from contracts import subjects
from quarry_runtime.bus import SCHEDULED_SUBJECTS, Bus
from quarry_runtime.busfaults import nats_outage_is_unavailable
from quarry_runtime.errors import Unavailable

log = logging.getLogger(__name__)

PENDING_FILTER = subjects.timer_schedule(">")
SCHEDULE_PREFIX = subjects.timer_schedule("")
AT = "@at "
AT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
REARM = "-rearm-"
DEFAULT_GRACE_S = 30.0
DEFAULT_INTERVAL_S = 15.0
OUTAGE_LOG_INTERVAL_S = 60.0
REQUEST_TIMEOUT_S = 5.0
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class PendingTimer:
    """What the sweep knows of one schedule message in the stream."""

    subject: str
    due: datetime | None  # None: not a one-shot `@at` schedule, which this sweep leaves alone
    stored: datetime
    target: str


def pending_timer(msg: RawStreamMsg) -> PendingTimer:
    headers = msg.headers or {}
    stored = msg.time if msg.time is not None else datetime.fromtimestamp(0, UTC)
    return PendingTimer(
        subject=msg.subject or "",
        due=parse_due(headers.get("Nats-Schedule", "")),
        stored=stored,
        target=headers.get("Nats-Schedule-Target", ""),
    )


def parse_due(schedule: str) -> datetime | None:
    """The time of an `@at <RFC 3339>` schedule; None for anything else (a cron, an interval)."""
    if not schedule.startswith(AT):
        return None
    try:
        return datetime.strptime(schedule[len(AT) :].strip(), AT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_stuck(timer: PendingTimer, now: datetime, grace: timedelta) -> bool:
    """Due (or, when stored after its due time, stored) more than `grace` ago and still held.

    Counting from when it was stored too gives a schedule published late (the outbox relay
    catching up) and a re-armed one the same grace to fire before it is re-armed again.
    """
    if timer.due is None or timer.target not in SCHEDULED_SUBJECTS:
        return False
    return now - max(timer.due, timer.stored) > grace


def stuck(timers: Iterable[PendingTimer], now: datetime, grace: timedelta) -> list[PendingTimer]:
    return [t for t in timers if is_stuck(t, now, grace)]


def rearm_id(subject: str, msg_id: str) -> str:
    """The Nats-Msg-Id of the next re-arm of the message `msg_id` on `subject`.

    Derived from the message being replaced, not from a count of this process: every replica
    re-arming the same stuck message publishes the same id, and JetStream keeps one.
    """
    event_id = subject.removeprefix(SCHEDULE_PREFIX)
    base = f"schedule-{event_id}"
    n = 0
    if msg_id.startswith(base + REARM):
        suffix = msg_id[len(base + REARM) :]
        n = int(suffix) if suffix.isdigit() else 0
    return f"{base}{REARM}{n + 1}"


def rearm_headers(headers: Mapping[str, str], subject: str) -> dict[str, str]:
    """The stored message's own headers (schedule, target, trace), with a fresh Nats-Msg-Id.

    The server's other `Nats-` headers say where the stored copy sits (its stream, sequence,
    time, the rollup it implies) and are not the publisher's to send.
    """
    kept = {
        k: v for k, v in headers.items() if not k.lower().startswith("nats-") or k.lower().startswith("nats-schedule")
    }
    kept["Nats-Msg-Id"] = rearm_id(subject, headers.get("Nats-Msg-Id", ""))
    return kept


class TimerSweep:
    """Every `interval_s`, re-publishes the timers held more than `grace_s` past their due time."""

    def __init__(
        self,
        bus: Bus,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Clock | None = None,
    ) -> None:
        self.bus = bus
        self.grace = timedelta(seconds=grace_s)
        self.interval_s = interval_s
        self._clock = clock or (lambda: datetime.now(UTC))
        # Per pending subject, what its message says: a timer is read once, not every sweep
        # (one due in a day stays pending through thousands of sweeps).
        self._known: dict[str, PendingTimer] = {}

    def _js(self) -> JetStreamContext:
        return self.bus.broker.connection.jetstream(timeout=REQUEST_TIMEOUT_S)

    async def sweep(self) -> int:
        """One pass; returns how many timers it re-armed."""
        with nats_outage_is_unavailable("sweeping the durable timers"):
            pending = await self._pending_subjects()
            for gone in self._known.keys() - pending:
                del self._known[gone]
            for subject in pending - self._known.keys():
                msg = await self._get(subject)
                if msg is not None:
                    self._known[subject] = pending_timer(msg)
            done = 0
            for timer in stuck(list(self._known.values()), self._clock(), self.grace):
                done += await self._rearm(timer.subject)
            return done

    async def _rearm(self, subject: str) -> int:
        # Read again: it may have fired, or another replica re-armed it, since it was read.
        msg = await self._get(subject)
        self._known.pop(subject, None)
        if msg is None:
            return 0
        timer = pending_timer(msg)
        if not is_stuck(timer, self._clock(), self.grace):
            self._known[subject] = timer
            return 0
        headers = rearm_headers(msg.headers or {}, subject)
        ack = await self._js().publish(subject, msg.data or b"", headers=headers, stream=subjects.STREAM)
        log.warning(
            "re-armed the durable timer %s, due %s and still held by JetStream (%s)",
            subject,
            timer.due.isoformat() if timer.due else "?",
            headers["Nats-Msg-Id"],
        )
        # Read back as a new message by the next sweep, with a new grace from its storing.
        return 0 if ack.duplicate else 1

    async def _get(self, subject: str) -> RawStreamMsg | None:
        """The schedule message on `subject`; None when it has fired (and so left the stream)."""
        try:
            return await self._js().get_msg(subjects.STREAM, subject=subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        except nats.errors.NoRespondersError as exc:
            raise Unavailable(
                f"reading the pending timer {subject}: nobody answers direct gets on the event stream "
                "(its allow_direct must be set: `python -m devtools.cli streams` with an operator's user)"
            ) from exc

    async def _pending_subjects(self) -> set[str]:
        """The subjects of every schedule message in the stream, page by page."""
        found: set[str] = set()
        offset = 0
        nc = self.bus.broker.connection
        while True:
            request = json.dumps({"subjects_filter": PENDING_FILTER, "offset": offset}).encode()
            reply = await nc.request(f"$JS.API.STREAM.INFO.{subjects.STREAM}", request, timeout=REQUEST_TIMEOUT_S)
            info = json.loads(reply.data)
            if "error" in info:
                raise nats.js.errors.APIError.from_error(info["error"])
            page = (info.get("state") or {}).get("subjects") or {}
            found.update(page)
            offset += len(page)
            if not page or offset >= int(info.get("total") or 0):
                return found

    async def run(self) -> None:
        """Sweep at start and every interval, for ever; an outage is logged once per interval."""
        logged = -OUTAGE_LOG_INTERVAL_S
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:
                if time.monotonic() - logged >= OUTAGE_LOG_INTERVAL_S:
                    logged = time.monotonic()
                    log.warning("timer sweep: %s; trying again", exc)
            except Exception:
                log.exception("timer sweep failed; trying again")
            await asyncio.sleep(self.interval_s)
