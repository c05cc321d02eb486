"""Every durable consumer acknowledges a message only once what the message caused is durable.

For each consumer in `contracts.consumers`, on a real nats-server: the service's own handler
takes a message while its store fails between handling and commit (the event store's commit,
the read model's COMMIT or write, the task journal's put, the search index's write). JetStream
must keep the message unacknowledged (its ack floor stays below it) and redeliver it, with
nothing of it applied; once the store works again the message is acknowledged and its effect is
in the store exactly once: for an event-sourced service, exactly the events a copy of the store
records when the same handler applies the message once, with nothing failing. The SQL stores
are proven on SQLite and on a real PostgreSQL whose COMMIT fails (disk full); the group commit
also with copies of one message handled in one group.

Each case runs the consumer under a durable name of its own (the service's name with a suffix),
created to start at the next message, so the stream's earlier traffic is not replayed into it;
everything after the durable's creation (the subscription, the handler, the bus's ack path,
the group commit) is the service's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import OperationalError
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from qdrant_client import QdrantClient

from contracts import subjects
from contracts.approval import ApprovalGiven, ApprovalPayload, ApprovalRejected
from contracts.consumers import CONSUMERS
from contracts.credits import CreditsDenied, CreditsDeniedPayload, CreditsGranted, CreditsGrantedPayload
from contracts.document import (
    DatasetDeleted,
    DatasetDeletedPayload,
    DocumentIndexed,
    DocumentIndexedPayload,
    DocumentUploaded,
    DocumentUploadedPayload,
)
from contracts.envelope import Actor, Event
from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
from contracts.ids import new_id
from contracts.monitor import MonitorChanged, MonitorChangedPayload
from contracts.policy import PolicyActivated, PolicyActivatedPayload
from contracts.question import QuestionAsked
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.run import (
    RunCancelled,
    RunCancelledPayload,
    RunCancelRequested,
    RunCancelRequestedPayload,
    RunExpired,
    RunExpiredPayload,
    RunFailed,
    RunFailedPayload,
    RunPlanReviewed,
    RunPlanReviewedPayload,
    RunRejected,
    RunRejectedPayload,
    RunRequested,
)
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested, ToolRequestedPayload
from contracts.work import CollectInput, IndexInput, ReportInput, SearchOutput
from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus, Subscription, ensure_streams
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase, eventstore_env
from quarry_runtime.worker import KvJournal
from services.analyst.bootstrap import AnalystSettings
from services.analyst.bootstrap import models as analyst_models
from services.analyst.handlers import subscriptions as analyst_subscriptions
from services.billing.application import Billing
from services.billing.handlers import subscriptions as billing_subscriptions
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed, project
from services.gateway.readmodels.projection import subscriptions as gateway_subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.orchestrator.application import Orchestrator
from services.orchestrator.handlers import subscriptions as orchestrator_subscriptions
from services.policy.application.budget import BudgetBook
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions, startup_engine
from services.policy.domain.engine import DEFAULT_POLICY_DIR
from services.policy.domain.policyset import PolicyFiles
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.handlers import subscriptions as policy_subscriptions
from services.policy.store import Budget, PolicyStore
from services.reporter.handlers import subscriptions as reporter_subscriptions
from services.retriever.application.memory import memory_index
from services.retriever.domain.chunking import chunk_document
from services.retriever.domain.corpus import Document
from services.retriever.handlers import subscriptions as retriever_subscriptions
from services.retriever.index import DATASET, SourceIndex
from services.retriever.tombstones import DeletedDatasets
from tests.integration.test_dataset_ingest import PARSERS
from tests.unit.test_billing import answered as billing_answered
from tests.unit.test_billing import asked as billing_asked
from tests.unit.test_billing import completed, question_failed, question_usage, request, run_to_completion, usage
from tests.unit.test_followups import asked as question_asked
from tests.unit.test_monitors import created as monitor_created
from tests.unit.test_orchestrator import (
    DRAFT,
    PASSAGE,
    Clock,
    decide,
    fail,
    outputs_for,
    requested,
    reserved,
    started,
    succeed,
    timer,
    with_status,
    work,
)
from tests.unit.test_plan_review import started as started_for_review
from tests.unit.test_policy_versions import published, with_fetch_for_all

pytestmark = pytest.mark.infra

ACK_WAIT_S = 30.0
# Each case's budget: the bus's backoff for an outage reaches 10 s between deliveries.
FAILING_DELIVERIES = 2
PHASE_S = 45.0
SETTLE_S = 0.5


class StoreFault:
    """A switch that makes one store fail, as a full or vanished volume would."""

    failing = False

    def error(self) -> Exception:
        return OSError(28, "No space left on device")


# -- the proof, for one consumer ------------------------------------------------------------


@dataclass
class Watched:
    """The messages the stream took on some subjects since the case began, by subject."""

    messages: list[Msg] = field(default_factory=list)

    def count(self, subject: str, event_id: str) -> int:
        return sum(
            1 for m in self.messages if m.subject == subject and (m.headers or {}).get("Nats-Msg-Id") == event_id
        )

    def payload_of(self, subject: str, event_id: str) -> bytes | None:
        found = [
            m.data for m in self.messages if m.subject == subject and (m.headers or {}).get("Nats-Msg-Id") == event_id
        ]
        return found[-1] if found else None


@dataclass
class Case:
    """One consumer: its service's subscriptions, the message to give it, its store, its effect."""

    subscriptions: Sequence[Subscription]
    event: Event
    fault: StoreFault
    effect: Callable[[], Any]  # what the store holds of the message's doing, comparable
    expected: Callable[[], Any]  # what it must hold once the message is applied exactly once
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()
    subject: str | None = None
    watched: Watched = field(default_factory=Watched)  # what the stream took on `watch`
    watch: Sequence[str] = ()
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Copies of the message under other stream ids (a publisher's retry after a lost ack, past
    # the duplicate window): fetched together, one stages and the others find its work staged.
    copies: int = 1


async def until(check: Callable[[], Any], what: str, seconds: float = PHASE_S) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"within {seconds:.0f}s: {what}"
        await asyncio.sleep(0.05)


async def value(effect: Callable[[], Any]) -> Any:
    result = effect()
    return await result if asyncio.iscoroutine(result) else result


@contextlib.asynccontextmanager
async def watching(js: JetStreamContext, subs: Sequence[str], watched: Watched) -> AsyncIterator[Watched]:
    """What the stream stores from now on (an ordered consumer: duplicates JetStream dropped are not seen)."""

    async def keep(msg: Msg) -> None:
        watched.messages.append(msg)

    pushed = [await js.subscribe(s, cb=keep, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW) for s in subs]
    try:
        yield watched
    finally:
        for sub in pushed:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


Build = Callable[[Bus], Awaitable[Case]]


async def prove_ack_after_commit(nats_url: str, service: str, durable: str, build: Build) -> Watched:
    """The message is not acknowledged while its effect cannot be committed, and is applied once after."""
    bus = Bus(nats_url, service, ack_wait_s=ACK_WAIT_S)
    case = await build(bus)
    [sub] = [s for s in case.subscriptions if s.durable == durable]
    own = f"{durable}-{uuid.uuid4().hex[:8]}"
    deliveries: Counter[str] = Counter()
    handler = sub.handler

    async def counted(ev: Any) -> None:
        deliveries[ev.event_id] += 1
        await handler(ev)

    bus.subscribe(dataclasses.replace(sub, durable=own, handler=counted))
    await bus.broker.connect()
    await ensure_streams(bus.broker)
    js = bus.broker.connection.jetstream()
    # Created here, to start at the next message; the bus binds to an existing durable as it is.
    await js.add_consumer(
        subjects.STREAM,
        ConsumerConfig(
            name=own,
            durable_name=own,
            filter_subject=sub.subject,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.NEW,
        ),
    )
    dead: list[Msg] = []

    async def on_dead(msg: Msg) -> None:
        dead.append(msg)

    dead_sub = await bus.broker.connection.subscribe(subjects.deadletter(service), cb=on_dead)
    jobs = [asyncio.create_task(job()) for job in case.background]
    event = case.event
    try:
        async with watching(js, case.watch, case.watched) as watched:
            before = await value(case.effect)
            case.fault.failing = True
            # Published before the consumer starts, so its first fetch takes every copy at once.
            acks = [
                await js.publish(
                    case.subject or event.SUBJECT,
                    event.to_bytes(),
                    headers={"Nats-Msg-Id": event.event_id if n == 0 else f"{event.event_id}-copy-{n}"},
                    stream=subjects.STREAM,
                )
                for n in range(case.copies)
            ]
            ack = acks[-1]
            first = acks[0].seq
            failing_deliveries = FAILING_DELIVERIES * case.copies
            await bus.broker.start()

            async def redelivered_or_acked() -> bool:
                info = await js.consumer_info(subjects.STREAM, own)
                acked = case.copies - info.num_ack_pending - info.num_pending
                return deliveries[event.event_id] >= failing_deliveries or acked > 0

            await until(redelivered_or_acked, f"{durable} is redelivered while its store fails")
            info = await js.consumer_info(subjects.STREAM, own)
            assert info.ack_floor is not None and (info.ack_floor.stream_seq or 0) < first, (
                f"{durable} acknowledged a message whose effect was not committed"
            )
            assert info.num_ack_pending == case.copies, (
                f"{durable} acknowledged {case.copies - info.num_ack_pending} of {case.copies} copies before a commit"
            )
            assert deliveries[event.event_id] >= failing_deliveries
            assert await value(case.effect) == before, (
                f"{durable}: something of the message was applied while its store failed"
            )

            case.fault.failing = False
            await until(
                lambda: _acked(js, own, ack.seq), f"{durable} acknowledges the message once its store works again"
            )
            # The stream's copies of what the handler published may arrive a moment after the ack.
            await until(_same(case.effect, case.expected), f"{durable}: the message's effect is there exactly once")
            await asyncio.sleep(SETTLE_S)  # and stays so: no second application follows
            assert await value(case.effect) == await value(case.expected), f"{durable}: applied more than once"
            assert await value(case.effect) != before, f"{durable}: the case's message changed nothing"
            assert not [m for m in dead if int((m.headers or {}).get("Quarry-Stream-Seq", 0)) >= first]
            return watched
    finally:
        case.fault.failing = False
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await dead_sub.unsubscribe()
        with contextlib.suppress(Exception):  # best effort: the server is the session's
            await js.delete_consumer(subjects.STREAM, own)
        await bus.stop()
        for close in case.closers:
            close()


def _same(effect: Callable[[], Any], expected: Callable[[], Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await value(effect) == await value(expected))

    return check


async def _acked(js: JetStreamContext, durable: str, seq: int) -> bool:
    info = await js.consumer_info(subjects.STREAM, durable)
    return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq and info.num_ack_pending == 0


# -- stores that fail on demand ---------------------------------------------------------------


class EventStoreFault(StoreFault):
    """The event store refuses the commit (`_record` is what the group commit calls to commit)."""

    def __init__(self, app: Application[Any]) -> None:
        commit = app._record

        def record(processing_event: Any) -> Any:
            if self.failing:
                raise OperationalError("disk I/O error: the volume is gone")
            return commit(processing_event)

        app._record = record  # type: ignore[method-assign]


def clone_event_store(settings: RuntimeSettings, service: str, twin_dir: Path) -> RuntimeSettings:
    """A copy of a service's SQLite event store as it is now, for a twin that applies the message once."""
    twin = RuntimeSettings(data_dir=twin_dir)
    source = sqlite3.connect(settings.service_dir(service) / "events.sqlite3")
    target = sqlite3.connect(twin.service_dir(service) / "events.sqlite3")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return twin


def notifications(app: Application[Any]) -> list[tuple[Any, int, str]]:
    return [
        (n.originator_id, n.originator_version, n.topic)
        for n in app.recorder.select_notifications(start=1, limit=100_000)
    ]


class FailingSqlite:
    """A SQLite connection (as `SqlDatabase` holds it) whose writes cannot be committed while
    failing: a transaction's COMMIT fails (and is rolled back), a single write fails."""

    WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

    def __init__(self, conn: sqlite3.Connection, fault: StoreFault) -> None:
        self._conn = conn
        self._fault = fault

    def execute(self, statement: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if self._fault.failing:
            verb = statement.lstrip()[:7].upper()
            if verb.startswith("COMMIT"):
                self._conn.execute("ROLLBACK")
                raise sqlite3.OperationalError("database or disk is full")
            if verb.startswith(self.WRITES) and not self._conn.in_transaction:
                raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(statement, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def failing_sql(db: SqlDatabase) -> StoreFault:
    if db.is_postgres:
        return PostgresCommitFault(db)
    fault = StoreFault()
    db._sqlite = FailingSqlite(db._sqlite, fault)  # type: ignore[assignment]
    return fault


FAULT_TABLE = "test_commit_fault"


class PostgresCommitFault(StoreFault):
    """A real PostgreSQL refusing commits: a deferred constraint trigger on every table of the
    schema fails the COMMIT (of a transaction, or of a single autocommitted write) with the
    server's own `disk_full` error while the flag is set, so whatever was written rolls back."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        db.execute(f"CREATE TABLE IF NOT EXISTS {FAULT_TABLE} (failing BOOLEAN NOT NULL)")
        db.execute(f"INSERT INTO {FAULT_TABLE} (failing) VALUES (false)")
        db.execute(
            "CREATE OR REPLACE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN"
            f" IF (SELECT bool_or(failing) FROM {FAULT_TABLE}) THEN"
            " RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';"
            " END IF; RETURN NULL; END $body$"
        )
        tables = db.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE'"
        )
        for (table,) in tables:
            if table != FAULT_TABLE:
                db.execute(
                    f'CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT OR UPDATE OR DELETE ON "{table}"'
                    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_fail_commit()"
                )

    @property
    def failing(self) -> bool:
        row = self._db.one(f"SELECT bool_or(failing) FROM {FAULT_TABLE}")
        return bool(row and row[0])

    @failing.setter
    def failing(self, value: bool) -> None:
        self._db.execute(f"UPDATE {FAULT_TABLE} SET failing = ?", (value,))


@contextlib.contextmanager
def patched(target: Any, name: str, fault: StoreFault) -> Iterator[None]:
    original = getattr(target, name)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if fault.failing:
            raise fault.error()
        return original(*args, **kwargs)

    setattr(target, name, guarded)
    try:
        yield
    finally:
        setattr(target, name, original)


# -- the orchestrator -------------------------------------------------------------------------

OrchestratorSetup = Callable[[Orchestrator], Event]


def _orchestrator_case(tmp_path: Path, setup: OrchestratorSetup, durable: str, copies: int = 1) -> Build:
    async def build(bus: Bus) -> Case:
        settings = RuntimeSettings(data_dir=tmp_path / "orchestrator")
        clock = Clock()
        app = Orchestrator(env=eventstore_env(settings, "orchestrator"))
        app.clock = clock
        event = setup(app)  # the run (or monitor) driven to where the message matters, committed
        twin = Orchestrator(
            env=eventstore_env(clone_event_store(settings, "orchestrator", tmp_path / "twin"), "orchestrator")
        )
        twin.clock = clock
        # The twin applies the message once, through the same handler, with nothing failing.
        await {s.durable: s.handler for s in orchestrator_subscriptions(twin)}[durable](event)
        expected = notifications(twin)
        twin.close()
        group = GroupCommit(app, after_commit=app.committed)
        app.group = group
        return Case(
            subscriptions=orchestrator_subscriptions(app),
            event=event,
            fault=EventStoreFault(app),
            effect=lambda: notifications(app),
            expected=lambda: expected,
            background=[group.run],
            closers=[app.close],
            copies=copies,
        )

    return build


def _plan_requested(app: Orchestrator) -> tuple[str, str]:
    run_id = started(app)
    return run_id, with_status(app, run_id, "requested")[0]


def _plan_dispatched(app: Orchestrator) -> tuple[str, str]:
    run_id, plan_id = _plan_requested(app)
    app.apply_decision(decide(app.get_run(run_id), plan_id))
    return run_id, plan_id


def _waiting_approval(app: Orchestrator) -> str:
    run_id = started(app, approval=True)
    work(app, run_id)
    assert app.get_run(run_id).state == "waiting_approval"
    return run_id


def _started_request(app: Orchestrator) -> RunRequested:
    req = requested()
    app.start_run(req)
    return req


def _approval(cls: type[ApprovalGiven] | type[ApprovalRejected]) -> OrchestratorSetup:
    def setup(app: Orchestrator) -> Event:
        run_id = _waiting_approval(app)
        return cls.create(
            ApprovalPayload(comment="read it"), tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="boss")
        )

    return setup


def _plan_reviewed(app: Orchestrator) -> Event:
    run_id = started_for_review(app)
    work(app, run_id)
    assert app.get_run(run_id).state == "awaiting_plan_review"
    payload = RunPlanReviewedPayload(action="continue", sub_questions=["How is a context manager used?"])
    return RunPlanReviewed.create(payload, tenant_id="tenant-a", run_id=run_id, actor=Actor(user_id="u1"))


def _monitor_changed(app: Orchestrator) -> Event:
    ev = monitor_created()
    app.create_monitor(ev)
    payload = MonitorChangedPayload(monitor_id=ev.payload.monitor_id, change="paused")
    return MonitorChanged.create(payload, tenant_id=ev.tenant_id, actor=ev.actor)


def _question_asked(app: Orchestrator) -> QuestionAsked:
    run_id = started(app)
    work(app, run_id)
    return question_asked(run_id)


ORCHESTRATOR: dict[str, OrchestratorSetup] = {
    subjects.RUN_REQUESTED: lambda app: requested(),
    subjects.CREDITS_RESERVED: lambda app: reserved(_started_request(app)),
    subjects.CREDITS_DENIED: lambda app: CreditsDenied.caused_by(
        _started_request(app), CreditsDeniedPayload(required=50, balance=3, reason="short")
    ),
    subjects.TOOL_DECIDED: lambda app: decide(app.get_run((ids := _plan_requested(app))[0]), ids[1]),
    subjects.TASK_SUCCEEDED: lambda app: succeed(
        app.get_run((ids := _plan_dispatched(app))[0]), ids[1], outputs_for("plan", {})
    ),
    subjects.TASK_FAILED: lambda app: fail(app.get_run((ids := _plan_dispatched(app))[0]), ids[1]),
    subjects.TIMER_FIRED: lambda app: timer(app.get_run((ids := _plan_dispatched(app))[0]), "task_timeout", ids[1]),
    subjects.RUN_CANCEL_REQUESTED: lambda app: RunCancelRequested.create(
        RunCancelRequestedPayload(), tenant_id="tenant-a", run_id=_plan_dispatched(app)[0]
    ),
    subjects.APPROVAL_GIVEN: _approval(ApprovalGiven),
    subjects.APPROVAL_REJECTED: _approval(ApprovalRejected),
    subjects.RUN_PLAN_REVIEWED: _plan_reviewed,
    subjects.MONITOR_CREATED: lambda app: monitor_created(),
    subjects.MONITOR_CHANGED: _monitor_changed,
    subjects.QUESTION_ASKED: _question_asked,
}


# -- billing ------------------------------------------------------------------------------------

BillingSetup = Callable[[Billing], Event]
BILLING_NOW = datetime(2026, 5, 5, tzinfo=UTC)


def _billing_case(tmp_path: Path, setup: BillingSetup, durable: str, copies: int = 1) -> Build:
    async def build(bus: Bus) -> Case:
        settings = RuntimeSettings(data_dir=tmp_path / "billing")
        app = Billing(env=eventstore_env(settings, "billing"))
        app.clock = lambda: BILLING_NOW
        event = setup(app)
        twin = Billing(env=eventstore_env(clone_event_store(settings, "billing", tmp_path / "twin"), "billing"))
        twin.clock = app.clock
        await {s.durable: s.handler for s in billing_subscriptions(twin)}[durable](event)
        expected = notifications(twin)
        twin.close()
        group = GroupCommit(app, after_commit=app.committed, on_drop=app.forget_aggregate)
        app.group = group
        return Case(
            subscriptions=billing_subscriptions(app),
            event=event,
            fault=EventStoreFault(app),
            effect=lambda: notifications(app),
            expected=lambda: expected,
            background=[group.run],
            closers=[app.close],
            copies=copies,
        )

    return build


def _admitted(app: Billing) -> RunRequested:
    req = request("t1")
    app.admit(req)
    return req


def _ended(make: Callable[[RunRequested], Event]) -> BillingSetup:
    return lambda app: make(_admitted(app))


def _question(app: Billing) -> QuestionAsked:
    return billing_asked(run_to_completion(app, "t1", searches=1))


def _question_answered(app: Billing) -> Event:
    q = _question(app)
    app.ask_question(q)
    used = question_usage(q, 0, searches=1)
    app.meter(used)
    return billing_answered(q, [used])


def _question_failed(app: Billing) -> Event:
    q = _question(app)
    app.ask_question(q)
    return question_failed(q)


def _completed(app: Billing) -> Event:
    req = _admitted(app)
    used = usage(req, 0)
    app.meter(used)
    return completed(req, [used])


BILLING: dict[str, BillingSetup] = {
    subjects.RUN_REQUESTED: lambda app: request("t1"),
    subjects.USAGE_RECORDED: lambda app: usage(_admitted(app), 0),
    subjects.RUN_COMPLETED: _completed,
    subjects.RUN_FAILED: _ended(lambda req: RunFailed.caused_by(req, RunFailedPayload(reason="boom"))),
    subjects.RUN_CANCELLED: _ended(lambda req: RunCancelled.caused_by(req, RunCancelledPayload(reason="asked"))),
    subjects.RUN_EXPIRED: _ended(lambda req: RunExpired.caused_by(req, RunExpiredPayload(reason="late"))),
    subjects.RUN_REJECTED: _ended(lambda req: RunRejected.caused_by(req, RunRejectedPayload(reason="no"))),
    subjects.QUESTION_ASKED: _question,
    subjects.QUESTION_ANSWERED: _question_answered,
    subjects.QUESTION_FAILED: _question_failed,
}


def _durables(service: str) -> dict[str, str]:
    return {c.subject: c.durable for c in CONSUMERS[service]}


# -- the gateway's read models ------------------------------------------------------------------

TENANT = "tenant-a"
ART = Artifact(path="/x/report.md", sha256="0" * 64, media_type="text/markdown", size=10)


GatewaySetup = Callable[[], tuple[list[Event], Event]]  # what the read model holds already, the message


def _run_event(make: Callable[[RunRequested], Event]) -> GatewaySetup:
    """An event of a run the read model already shows."""

    def setup() -> tuple[list[Event], Event]:
        req = requested()
        return [req], make(req)

    return setup


def _tool_decided(req: RunRequested) -> Event:
    payload = ToolDecidedPayload(
        request_id="plan:1", task_id="plan", tool="web_search", decision="allow", policy_version="v1", evaluation_ms=0.1
    )
    return ToolDecided.caused_by(req, payload)


GATEWAY: dict[str, tuple[GatewaySetup, str | None]] = {
    "gateway-runs": (lambda: ([], requested()), None),
    "gateway-credits": (_run_event(reserved), None),
    "gateway-tools": (_run_event(_tool_decided), None),
    "gateway-tasks": (
        _run_event(
            lambda req: TaskDispatched.caused_by(
                req, TaskDispatchedPayload(task_id="plan", kind="plan", role="analyst", input={})
            )
        ),
        subjects.task_lane("analyst"),
    ),
    "gateway-reports": (
        _run_event(
            lambda req: ReportPublished.caused_by(
                req, ReportPublishedPayload(task_id="report", title="Tides", markdown=ART, pdf=ART)
            )
        ),
        None,
    ),
    "gateway-approvals": (
        _run_event(
            lambda req: ApprovalGiven.create(
                ApprovalPayload(comment="fine"), tenant_id=TENANT, run_id=req.run_id, actor=Actor(user_id="boss")
            )
        ),
        None,
    ),
    "gateway-documents": (
        lambda: (
            [],
            DocumentUploaded.create(
                DocumentUploadedPayload(
                    document_id=new_id(), title="Tides", content_type="text/plain", content="Tides."
                ),
                tenant_id=TENANT,
            ),
        ),
        None,
    ),
    "gateway-monitors": (lambda: ([], monitor_created()), None),
    "gateway-guardrails": (
        _run_event(
            lambda req: GuardrailTripped.caused_by(
                req, GuardrailTrippedPayload(guardrail="pii", where="report", action="redacted", counts={"email": 1})
            )
        ),
        None,
    ),
    "gateway-questions": (_run_event(lambda req: question_asked(req.run_id or "", tenant_id=TENANT)), None),
    "gateway-usage": (_run_event(lambda req: usage(req, 0)), None),
}


def rows(db: SqlDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a read model is its rows. On PostgreSQL a serial column is left
    out: a sequence value taken by a transaction that failed is not given back."""
    if not db.is_postgres:
        tables = [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(db.query(f'SELECT * FROM "{t}"'), key=repr) for t in tables if not t.startswith("sqlite_")}
    columns: dict[str, list[str]] = {}
    for table, column in db.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND strpos(COALESCE(column_default, ''), 'nextval') = 0 ORDER BY table_name, ordinal_position"
    ):
        if table != FAULT_TABLE:
            columns.setdefault(table, []).append(column)
    return {t: sorted(db.query(f'SELECT {_quoted(cs)} FROM "{t}"'), key=repr) for t, cs in columns.items()}


def _quoted(names: Sequence[str]) -> str:
    return ", ".join('"' + name + '"' for name in names)


def _sql_settings(tmp_path: Path, database_url: str | None, prefix: str) -> RuntimeSettings:
    if database_url is None:
        return RuntimeSettings(data_dir=tmp_path / prefix)
    return RuntimeSettings(data_dir=tmp_path / prefix, database_url=database_url, db_schema_prefix=prefix)


def _gateway_case(tmp_path: Path, durable: str, database_url: str | None = None) -> Build:
    setup, subject = GATEWAY[durable]

    async def build(bus: Bus) -> Case:
        prelude, event = setup()
        db = SqlDatabase(_sql_settings(tmp_path, database_url, "gateway"), "gateway")
        twin_db = SqlDatabase(_sql_settings(tmp_path, database_url, "twin"), "gateway")
        store, monitors = GatewayStore(db), MonitorStore(db)
        twin, twin_monitors = GatewayStore(twin_db), MonitorStore(twin_db)
        for earlier in prelude:
            project(store, monitors, earlier)
            project(twin, twin_monitors, earlier)
        project(twin, twin_monitors, event)  # the message applied once, with nothing failing
        expected = rows(twin_db)
        twin_db.close()
        return Case(
            subscriptions=gateway_subscriptions(store, RunFeed(), monitors),
            event=event,
            subject=subject,
            fault=failing_sql(db),
            effect=lambda: rows(db),
            expected=lambda: expected,
            closers=[db.close],
        )

    return build


# -- the policy service -------------------------------------------------------------------------


@dataclass
class Policy:
    store: PolicyStore
    decider: Decider
    versions: PolicyVersions


def _policy(tmp_path: Path, database_url: str | None = None) -> Policy:
    store = PolicyStore(SqlDatabase(_sql_settings(tmp_path, database_url, "policy"), "policy"))
    decider = Decider(startup_engine(store, PolicyFiles.from_directory(DEFAULT_POLICY_DIR, DEFAULT_REGISTRY)))
    decider.budgets = BudgetBook(store)
    return Policy(store, decider, PolicyVersions(store, decider))


def _policy_subscriptions(bus: Bus, policy: Policy) -> list[Subscription]:
    return policy_subscriptions(bus, policy.decider, store=policy.store, versions=policy.versions)


def _decisions_of(store: PolicyStore, event_id: str) -> list[tuple[Any, ...]]:
    return store.db.query("SELECT decision, payload FROM decisions WHERE event_id = ?", (event_id,))


def _tool_request_case(tmp_path: Path, database_url: str | None = None) -> Build:
    async def build(bus: Bus) -> Case:
        policy = _policy(tmp_path, database_url)
        payload = ToolRequestedPayload(
            request_id="fetch:1",
            tool="fetch_url",
            task_id="fetch",
            step="fetch",
            plan="free",
            roles=["owner"],
            arguments={"url": "https://arxiv.org/abs/1"},
        )
        actor = Actor(user_id="u1", agent="quarry-orchestrator", roles=["owner"])
        event = ToolRequested.create(payload, tenant_id=TENANT, run_id=new_id(), actor=actor)
        decided_id = ToolDecided.caused_by(event, _decided_stand_in(event)).event_id
        watched = Watched()

        def effect() -> Any:
            # The decision listed once, and the same decision on the bus once.
            kept = _decisions_of(policy.store, decided_id)
            published = watched.payload_of(subjects.TOOL_DECIDED, decided_id)
            on_bus = ToolDecided.model_validate_json(published).payload.model_dump_json() if published else None
            return (len(kept), watched.count(subjects.TOOL_DECIDED, decided_id), kept[0][1] == on_bus if kept else None)

        return Case(
            subscriptions=_policy_subscriptions(bus, policy),
            event=event,
            fault=failing_sql(policy.store.db),
            effect=effect,
            expected=lambda: (1, 1, True),
            watched=watched,
            watch=[subjects.TOOL_DECIDED],
            closers=[policy.store.close],
        )

    return build


def _decided_stand_in(event: ToolRequested) -> ToolDecidedPayload:
    p = event.payload
    return ToolDecidedPayload(
        request_id=p.request_id, task_id=p.task_id, tool=p.tool, decision="deny", policy_version="-", evaluation_ms=0
    )


def _publication_case(tmp_path: Path, database_url: str | None = None, *, fail_announcement: bool = False) -> Build:
    async def build(bus: Bus) -> Case:
        policy = _policy(tmp_path, database_url)
        event = published(with_fetch_for_all())
        announced = PolicyActivated.caused_by(event, _activated_stand_in()).event_id
        watched = Watched()
        closers: list[Callable[[], None]] = [policy.store.close]
        if fail_announcement:
            # The switch commits; the publish of its announcement is what fails. The switch is
            # in the store from the first delivery on, so the effect judged is the announcement.
            fault = StoreFault()
            stack = contextlib.ExitStack()
            stack.enter_context(patched(bus, "publish", fault))
            closers.append(stack.close)
        else:
            fault = failing_sql(policy.store.db)

        def effect() -> Any:
            count = watched.count(subjects.POLICY_ACTIVATED, announced)
            return count if fail_announcement else (policy.store.active_version(), count)

        expected: Any = 1 if fail_announcement else (event.payload.version, 1)
        return Case(
            subscriptions=_policy_subscriptions(bus, policy),
            event=event,
            fault=fault,
            effect=effect,
            expected=lambda: expected,
            watched=watched,
            watch=[subjects.POLICY_ACTIVATED],
            closers=closers,
        )

    return build


def _activated_stand_in() -> PolicyActivatedPayload:
    return PolicyActivatedPayload(version="-")


def _budget_case(tmp_path: Path, database_url: str | None = None) -> Build:
    async def build(bus: Bus) -> Case:
        policy = _policy(tmp_path, database_url)
        tenant = f"t{uuid.uuid4().hex[:8]}"
        event = CreditsGranted.create(CreditsGrantedPayload(amount=500, plan="free", balance=500), tenant_id=tenant)
        return Case(
            subscriptions=_policy_subscriptions(bus, policy),
            event=event,
            fault=failing_sql(policy.store.db),
            # What a restarted service starts from: the stored book, not this process's memory.
            effect=lambda: policy.store.budgets().get(tenant),
            expected=lambda: Budget(500, 500, f"{event.occurred_at.isoformat()}|{event.event_id}"),
            closers=[policy.store.close],
        )

    return build


# -- the worker lanes and the retriever's own consumers -----------------------------------------


def _task(role: str, kind: str, task_input: dict[str, Any], run_id: str) -> TaskDispatched:
    payload = TaskDispatchedPayload(task_id=new_id(), kind=kind, role=role, input=task_input)
    return TaskDispatched.create(payload, tenant_id=TENANT, run_id=run_id, actor=Actor(user_id="u1"))


def _indexes() -> tuple[SourceIndex, SourceIndex]:
    client = QdrantClient(":memory:")
    index, memory = SourceIndex(client, label_fields=(DATASET,)), memory_index(client)
    for i in (index, memory):
        i.ensure_collection()
    return index, memory


def _lane_case(tmp_path: Path, role: str, *, fail_artifacts: bool = False) -> Build:
    """A lane's store is the task journal: its put fails, so the result is neither journalled nor
    published. The reporter's other store is its artifacts: `fail_artifacts` fails their writes."""

    async def build(bus: Bus) -> Case:
        closers: list[Callable[[], None]] = []
        artifacts = ArtifactStore(tmp_path / "artifacts")
        run_id = new_id()
        if role == "retriever":
            index, memory = _indexes()
            subs = retriever_subscriptions(bus, index, memory, parsers=PARSERS)
            work = IndexInput(run_id=run_id, question="tides?", draft=DRAFT)
            task = _task(role, "index", work.model_dump(mode="json"), run_id)
        elif role == "analyst":
            subs = analyst_subscriptions(bus, analyst_models(AnalystSettings(data_dir=tmp_path), bus))
            found = [SearchOutput(sub_question="What drives tides?", passages=[PASSAGE])]
            task = _task(
                role, "collect", CollectInput(question="tides?", findings=found).model_dump(mode="json"), run_id
            )
        else:
            subs = reporter_subscriptions(bus, artifacts)
            task = _task(role, "report", ReportInput(run_id=run_id, draft=DRAFT).model_dump(mode="json"), run_id)
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(artifacts, "put", fault) if fail_artifacts else patched(KvJournal, "put", fault))
        closers.append(stack.close)
        journal = KvJournal(bus)
        succeeded = TaskSucceeded.caused_by(task, _succeeded_stand_in(task)).event_id
        watched = Watched()

        async def effect() -> Any:
            journalled = await journal.get(task.payload.task_id) is not None
            done = (journalled, watched.count(subjects.TASK_SUCCEEDED, succeeded))
            if not fail_artifacts:
                return done  # the reporter's files are written (idempotently) before the journal fails
            return (*done, len(list((tmp_path / "artifacts").rglob("report.*"))))

        return Case(
            subscriptions=subs,
            event=task,
            subject=subjects.task_lane(role),
            fault=fault,
            effect=effect,
            expected=lambda: (True, 1, 3) if fail_artifacts else (True, 1),
            watched=watched,
            watch=[subjects.TASK_SUCCEEDED],
            closers=closers,
        )

    return build


def _succeeded_stand_in(task: TaskDispatched) -> TaskSucceededPayload:
    return TaskSucceededPayload(task_id=task.payload.task_id, kind=task.payload.kind, output={})


def _upload_case(tmp_path: Path) -> Build:
    """The retriever's store is its search index: the upsert of the document's chunks fails."""

    async def build(bus: Bus) -> Case:
        index, memory = _indexes()
        tenant = f"t{uuid.uuid4().hex[:10]}"
        event = DocumentUploaded.create(
            DocumentUploadedPayload(
                document_id="doc-1", title="Tides", content_type="text/plain", content="The moon pulls the sea. " * 40
            ),
            tenant_id=tenant,
        )
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(index.client, "upsert", fault))
        indexed = DocumentIndexed.caused_by(event, DocumentIndexedPayload(document_id="doc-1", chunks=1)).event_id
        watched = Watched()
        return Case(
            subscriptions=retriever_subscriptions(bus, index, memory, parsers=PARSERS),
            event=event,
            fault=fault,
            effect=lambda: (index.count(tenant) > 0, watched.count(subjects.DOCUMENT_INDEXED, indexed)),
            expected=lambda: (True, 1),
            watched=watched,
            watch=[subjects.DOCUMENT_INDEXED],
            closers=[stack.close],
        )

    return build


def _dataset_case(tmp_path: Path) -> Build:
    """The delete of a deleted dataset's chunks fails: the message waits until they are gone."""

    async def build(bus: Bus) -> Case:
        index, memory = _indexes()
        tenant = f"t{uuid.uuid4().hex[:10]}"
        labels = {DATASET: "ds-1"}
        index.add(
            chunk_document(Document("doc-1", "Tides", "The moon pulls the sea. " * 40, "text/plain")), tenant, labels
        )
        fault = StoreFault()
        stack = contextlib.ExitStack()
        stack.enter_context(patched(index.client, "delete", fault))
        event = DatasetDeleted.create(DatasetDeletedPayload(dataset_id="ds-1", name="tides"), tenant_id=tenant)
        return Case(
            subscriptions=retriever_subscriptions(bus, index, memory, deleted=DeletedDatasets(bus), parsers=PARSERS),
            event=event,
            fault=fault,
            effect=lambda: index.count(tenant, labels),
            expected=lambda: 0,
            closers=[stack.close],
        )

    return build


# -- every consumer, and the tests --------------------------------------------------------------

Cases = dict[str, Callable[[Path], Build]]


def every_case() -> Cases:
    """The proof for each durable consumer, by durable name."""
    cases: Cases = {}
    for subject, durable in _durables("orchestrator").items():
        cases[durable] = functools.partial(_orchestrator_case, setup=ORCHESTRATOR[subject], durable=durable)
    for subject, durable in _durables("billing").items():
        cases[durable] = functools.partial(_billing_case, setup=BILLING[subject], durable=durable)
    for durable in _durables("gateway").values():
        cases[durable] = functools.partial(_gateway_case, durable=durable)
    durables = _durables("policy")
    cases[durables[subjects.TOOL_REQUESTED]] = _tool_request_case
    cases[durables[subjects.POLICY_PUBLISHED]] = _publication_case
    cases[durables["credits.>"]] = _budget_case
    for role in ("retriever", "analyst", "reporter"):
        cases[f"{role}-lane"] = functools.partial(_lane_case, role=role)
    durables = _durables("retriever")
    cases[durables[subjects.DOCUMENT_UPLOADED]] = _upload_case
    cases[durables[subjects.DATASET_DELETED]] = _dataset_case
    return cases


def _service_of(durable: str) -> str:
    return next(service for service, consumers in CONSUMERS.items() if durable in {c.durable for c in consumers})


def test_every_consumer_has_an_ack_after_commit_proof() -> None:
    """A consumer added to contracts.consumers without a case here fails this test."""
    listed = {c.durable for consumers in CONSUMERS.values() for c in consumers}
    cases = every_case()
    assert sorted(listed - cases.keys()) == [], "consumers without an ack-after-commit case"
    assert sorted(cases.keys() - listed) == [], "cases for consumers that no longer exist"


@pytest.mark.parametrize("durable", sorted(every_case()))
async def test_a_consumer_acks_only_after_its_effect_is_durable(durable: str, nats_url: str, tmp_path: Path) -> None:
    await prove_ack_after_commit(nats_url, _service_of(durable), durable, every_case()[durable](tmp_path))


async def test_a_policy_switch_whose_announcement_failed_is_announced_on_redelivery(
    nats_url: str, tmp_path: Path
) -> None:
    """The switch is committed, then the publish of `policy.v1.activated` fails: the redelivered
    publication must announce it, not find it 'not newer' and be acknowledged unannounced."""
    durable = _durables("policy")[subjects.POLICY_PUBLISHED]
    await prove_ack_after_commit(nats_url, "policy", durable, _publication_case(tmp_path, fail_announcement=True))


@pytest.mark.parametrize("service", ["orchestrator", "billing"])
async def test_copies_handled_in_one_group_are_acked_only_after_its_commit(
    service: str, nats_url: str, tmp_path: Path
) -> None:
    """Three copies of one message fetched together: the first stages its effect, the others find
    it staged and stage nothing. None may be acknowledged before that group is committed; when
    the commit fails all are redelivered, and the effect is applied once when it succeeds."""
    if service == "orchestrator":
        durable = _durables(service)[subjects.TASK_SUCCEEDED]
        build = _orchestrator_case(tmp_path, ORCHESTRATOR[subjects.TASK_SUCCEEDED], durable, copies=3)
    else:
        durable = _durables(service)[subjects.USAGE_RECORDED]
        build = _billing_case(tmp_path, BILLING[subjects.USAGE_RECORDED], durable, copies=3)
    await prove_ack_after_commit(nats_url, service, durable, build)


async def test_the_reporter_acks_only_after_its_artifacts_are_written(nats_url: str, tmp_path: Path) -> None:
    """The report's files are its effect too: a write that fails keeps the task unacknowledged."""
    await prove_ack_after_commit(
        nats_url, "reporter", "reporter-lane", _lane_case(tmp_path, "reporter", fail_artifacts=True)
    )


POSTGRES_CONSUMERS = [
    *_durables("gateway").values(),
    *(c.durable for c in CONSUMERS["policy"]),
]


@pytest.mark.parametrize("durable", POSTGRES_CONSUMERS)
async def test_on_postgres_a_consumer_acks_only_after_its_commit(
    durable: str, nats_url: str, tmp_path: Path, database_url: str
) -> None:
    """The read-model and policy stores on a real PostgreSQL whose COMMIT fails (disk full): the
    handlers run their queries off the event loop there, another path than SQLite's."""
    service = _service_of(durable)
    if service == "gateway":
        build = _gateway_case(tmp_path, durable, database_url)
    else:
        build = {
            "policy-tool-requests": _tool_request_case,
            "policy-versions": _publication_case,
            "policy-budgets": _budget_case,
        }[durable](tmp_path, database_url)
    await prove_ack_after_commit(nats_url, service, durable, build)
