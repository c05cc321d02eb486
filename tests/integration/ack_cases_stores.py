"""Ack-after-commit cases for the consumers that write SQL stores: the gateway's read models and
the policy service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import subjects
from contracts.approval import ApprovalGiven, ApprovalPayload
from contracts.credits import CreditsGranted, CreditsGrantedPayload
from contracts.document import (
    DocumentUploaded,
    DocumentUploadedPayload,
)
from contracts.envelope import Actor, Event
from contracts.guardrail import GuardrailTripped, GuardrailTrippedPayload
from contracts.ids import new_id
from contracts.policy import PolicyActivated, PolicyActivatedPayload
from contracts.report import Artifact, ReportPublished, ReportPublishedPayload
from contracts.run import (
    RunRequested,
)
from contracts.task import TaskDispatched, TaskDispatchedPayload
from contracts.tool import ToolDecided, ToolDecidedPayload, ToolRequested
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import LiveViews, RunFeed, project
from services.gateway.readmodels.projection import subscriptions as gateway_subscriptions
from services.gateway.readmodels.store import GatewayStore
from services.policy.application.budget import BudgetBook
from services.policy.application.decider import Decider
from services.policy.application.versions import PolicyVersions, startup_engine
from services.policy.domain.engine import DEFAULT_POLICY_DIR
from services.policy.domain.policyset import PolicyFiles
from services.policy.domain.registry import DEFAULT_REGISTRY
from services.policy.handlers import subscriptions as policy_subscriptions
from services.policy.store import Budget, PolicyStore
from tests.integration.ack_faults import FAULT_TABLE, failing_sql, patched
from tests.integration.ack_proof import Build, Case, StoreFault, Watched
from tests.support.credits import usage
from tests.support.orchestrator import (
    requested,
    reserved,
)
from tests.support.policy import fetch_request
from tests.support.questions import asked as question_asked
from tests.unit.test_monitors import created as monitor_created
from tests.unit.test_policy_versions import published, with_fetch_for_all

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


def gateway_case(tmp_path: Path, durable: str, database_url: str | None = None) -> Build:
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
            subscriptions=gateway_subscriptions(LiveViews(store, monitors, RunFeed())),
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


def tool_request_case(tmp_path: Path, database_url: str | None = None) -> Build:
    async def build(bus: Bus) -> Case:
        policy = _policy(tmp_path, database_url)
        payload = fetch_request(request_id="fetch:1", task_id="fetch", step="fetch")
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


def publication_case(tmp_path: Path, database_url: str | None = None, *, fail_announcement: bool = False) -> Build:
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


def budget_case(tmp_path: Path, database_url: str | None = None) -> Build:
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
