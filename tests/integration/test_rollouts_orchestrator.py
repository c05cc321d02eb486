"""Rollouts end to end on a real JetStream, the orchestrator's store on SQLite and on PostgreSQL:
started over request/reply (a second start and bad input refused), looked at on its durable
timer with the decision published, each ended run's outcome recorded and still there after a
restart, and two replicas on one store taking each decision once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from pydantic import BaseModel

from contracts import subjects
from contracts.agents import (
    AgentConfig,
    RecordEvaluationReply,
    RecordEvaluationRequest,
    RegisterAgentReply,
    RegisterAgentRequest,
)
from contracts.credits import CreditsReserved, CreditsReservedPayload
from contracts.envelope import Actor, Event
from contracts.ids import derived_id, new_id
from contracts.registry import parse_event
from contracts.rollouts import (
    Aborted,
    Held,
    RolloutCommandRequest,
    RolloutInfo,
    RolloutReply,
    RolloutsQuery,
    RolloutsReply,
    RolloutStarted,
    StartRolloutRequest,
)
from contracts.run import RunRequested, RunRequestedPayload
from contracts.tool import ToolDecided, ToolDecidedPayload
from tests.integration.test_gateway_ops_events import publish
from tests.servers import PrivateNats, private_nats
from tests.support.control_plane import orchestrator, running
from tests.support.jetstream import stored_events
from tests.support.polling import eventually
from tests.support.rollout_requests import PASSING
from tests.support.rollout_requests import start_request as rollout_start

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNats]:
    with private_nats(tmp_path_factory.mktemp("rollouts-nats")) as own:
        yield own


async def ask(nc: Client, subject: str, request: BaseModel, reply: type[Any]) -> Any:
    """A request answered by the orchestrator (retried while its responders subscribe)."""

    async def answered() -> Any:
        try:
            msg = await nc.request(subject, request.model_dump_json().encode(), timeout=5)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return None
        return reply.model_validate_json(msg.data)

    return await eventually(answered, 20, f"an answer on {subject}")


async def candidate_of(nc: Client, component: str) -> str:
    """A stable and a candidate version of `component`; the candidate passed the eval gate."""
    found = []
    for n in (3, 4):
        config = AgentConfig(mode="offline", parameters={"max_sub_questions": n, "salt": uuid.uuid4().hex[:8]})
        register = RegisterAgentRequest(component=component, config=config, tenant_id="t-ops")
        found.append((await ask(nc, subjects.AGENT_REGISTER, register, RegisterAgentReply)).version)
    gate = RecordEvaluationRequest(component=component, version=found[1], metrics=PASSING, tenant_id="t-ops")
    assert (await ask(nc, subjects.AGENT_EVALUATION, gate, RecordEvaluationReply)).evaluation.passed
    return str(found[1])


def start_request(component: str, candidate: str) -> StartRolloutRequest:
    """A start whose stages never fill (1,000 runs): what ends it is the operator, or starvation."""
    changes = {"min_runs_per_stage": 1000, "min_tenants_per_stage": 3, "starved_after_s": 1, "look_every_s": 1}
    return rollout_start(component, candidate, **changes)


async def query(nc: Client, rollout_id: str) -> RolloutInfo:
    reply = await ask(nc, subjects.ROLLOUT_QUERY, RolloutsQuery(rollout_id=rollout_id), RolloutsReply)
    assert reply.error is None, reply.error
    (info,) = reply.rollouts
    return info  # type: ignore[no-any-return]


async def rollout_events(server: PrivateNats, rollout_id: str) -> list[Event]:
    """Every `rollout.v1.*` event of `rollout_id` the stream holds."""
    found = await stored_events(server.admin_url, "rollout.v1.>")
    return [e for e in found if getattr(e.payload, "rollout_id", None) == rollout_id]


async def ended_runs(nc: Client, tenants: list[str]) -> None:
    """A run of each tenant, admitted (so its rollout assigns it) and ended by a denied plan tool."""
    runs = []
    for tenant in tenants:
        req = RunRequested.create(
            RunRequestedPayload(question="what is a context manager", depth=1, max_sources=5),
            tenant_id=tenant,
            run_id=new_id(),
            actor=Actor(user_id="u1", roles=["owner"]),
        )
        await publish(nc, req)
        await publish(nc, CreditsReserved.caused_by(req, CreditsReservedPayload(amount=40, balance=460, plan="pro")))
        runs.append(req)
    # The plan's tool request is the sign of admission; the denial then ends the run.
    requested: set[str] = set()
    sub = await nc.jetstream().subscribe(subjects.TOOL_REQUESTED, ordered_consumer=True)

    async def all_requested() -> bool:
        with contextlib.suppress(nats.errors.TimeoutError):
            while True:
                requested.add(parse_event((await sub.next_msg(timeout=0.2)).data).run_id or "")
        return all(r.run_id in requested for r in runs)

    await eventually(all_requested, 30, "every run to ask for its plan's tool")
    await sub.unsubscribe()
    for req in runs:
        task_id = derived_id(req.run_id or "", "task:plan:0")
        payload = ToolDecidedPayload(
            request_id=f"{task_id}:1",
            task_id=task_id,
            tool="llm_generate",
            decision="deny",
            reasons=["no"],
            policy_version="v1",
            evaluation_ms=0.1,
        )
        await publish(nc, ToolDecided.create(payload, tenant_id=req.tenant_id, run_id=req.run_id))


class RolloutsCase:
    @pytest.fixture
    def database_url_or_none(self) -> str | None:
        raise NotImplementedError

    async def test_started_over_request_reply_looked_at_on_its_timer_and_kept_over_a_restart(
        self, server: PrivateNats, database_url_or_none: str | None, tmp_path: Path
    ) -> None:
        store = tmp_path / "orchestrator"
        nc = await nats.connect(server.admin_url)
        try:
            async with running(server, orchestrator(server, store, database_url_or_none)):
                candidate = await candidate_of(nc, "planner")
                started = await ask(nc, subjects.ROLLOUT_START, start_request("planner", candidate), RolloutReply)
                assert started.error is None, started.error
                rollout_id = started.rollout.rollout_id
                again = await ask(nc, subjects.ROLLOUT_START, start_request("planner", candidate), RolloutReply)
                assert again.status == 409 and rollout_id in again.error
                unknown = RolloutCommandRequest(rollout_id=new_id(), action="pause", tenant_id="t-ops")
                assert (await ask(nc, subjects.ROLLOUT_COMMAND, unknown, RolloutReply)).status == 404
                bad = await nc.request(subjects.ROLLOUT_START, b'{"spec": {"stages": [0]}}', timeout=5)
                assert RolloutReply.model_validate_json(bad.data).status == 400

                # No run for a second: the timer's look holds it as starved, and says so once.
                async def starved() -> list[Event]:
                    return [e for e in await rollout_events(server, rollout_id) if isinstance(e, Held)]

                (held,) = await eventually(starved, 30, "a starved hold published")
                assert held.payload.reason == "starved" and held.tenant_id == "t-ops"

                await ended_runs(nc, [f"tenant-{i}" for i in range(12)])

                async def counted() -> RolloutInfo | None:
                    info = await query(nc, rollout_id)
                    look = info.last_look
                    return info if look is not None and look.candidate.runs + look.stable.runs == 12 else None

                before = await eventually(counted, 30, "a look that counts every ended run")
                assert before is not None and before.status == "running" and before.percent == 50

            # A new process on the same store: the rollout, its outcomes and its timer go on.
            async with running(server, orchestrator(server, store, database_url_or_none)):
                after = await eventually(counted, 30, "a look after the restart counting the same runs")
                assert after is not None and after.last_look_at is not None and before.last_look_at is not None
                await eventually(
                    lambda: _later(query(nc, rollout_id), before.last_look_at), 30, "a look after the restart"
                )
                assert [d.kind for d in after.decisions] == ["started", "held"]
                abort = RolloutCommandRequest(rollout_id=rollout_id, action="abort", note="done", tenant_id="t-ops")
                aborted = await ask(nc, subjects.ROLLOUT_COMMAND, abort, RolloutReply)
                assert aborted.rollout.status == "aborted"
            events = await eventually(
                lambda: _with(rollout_events(server, rollout_id), Aborted), 20, "the abort published"
            )
            assert events is not None
            assert [type(e) for e in events if not isinstance(e, Held)] == [RolloutStarted, Aborted]
        finally:
            await nc.close()


async def _later(info: Any, than: Any) -> bool:
    found: RolloutInfo = await info
    return found.last_look_at is not None and found.last_look_at > than


async def _with(found: Any, kind: type[Event]) -> list[Event] | None:
    events: list[Event] = await found
    return events if any(isinstance(e, kind) for e in events) else None


class TestRolloutsOnSQLite(RolloutsCase):
    @pytest.fixture
    def database_url_or_none(self) -> str | None:
        return None


class TestRolloutsOnPostgres(RolloutsCase):
    @pytest.fixture
    def database_url_or_none(self, database_url: str) -> str | None:
        return database_url


async def test_two_replicas_take_each_decision_once(server: PrivateNats, database_url: str, tmp_path: Path) -> None:
    """Both replicas consume the one timer work queue and write one PostgreSQL store: each look's
    timer reaches one of them, and a look that races another loses its save and is dropped."""
    nc = await nats.connect(server.admin_url)
    try:
        async with (
            running(server, orchestrator(server, tmp_path / "store", database_url)),
            running(server, orchestrator(server, tmp_path / "store", database_url)),
        ):
            candidate = await candidate_of(nc, "ranker")
            started = await ask(nc, subjects.ROLLOUT_START, start_request("ranker", candidate), RolloutReply)
            assert started.error is None, started.error
            rollout_id = started.rollout.rollout_id
            first = await eventually(lambda: _looked(query(nc, rollout_id)), 30, "a first look")
            await eventually(lambda: _later(query(nc, rollout_id), first), 30, "more looks")
            await eventually(
                lambda: _later(query(nc, rollout_id), first + timedelta(seconds=3)), 30, "three looks more"
            )
            info = await query(nc, rollout_id)
            assert [d.kind for d in info.decisions] == ["started", "held"]
        events = await rollout_events(server, rollout_id)
        assert [type(e) for e in events] == [RolloutStarted, Held]
    finally:
        await nc.close()


def _later_than(nc: Client, rollout_id: str, than: Any) -> Callable[[], Awaitable[bool]]:
    return lambda: _later(query(nc, rollout_id), than)


async def _looked(info: Any) -> Any:
    found: RolloutInfo = await info
    return found.last_look_at


@contextlib.contextmanager
def orchestrator_process(server: PrivateNats, data_dir: Path, database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.orchestrator` as its own process (so it can be killed with SIGKILL)."""
    env = os.environ | {
        "QUARRY_ENVIRONMENT": "test",
        "QUARRY_DATA_DIR": str(data_dir),
        "QUARRY_DATABASE_URL": database_url,
        "QUARRY_DB_SCHEMA_PREFIX": f"killed_{uuid.uuid5(uuid.NAMESPACE_URL, str(data_dir)).hex[:6]}_",
        "QUARRY_NATS_URL": server.url,
        "QUARRY_NATS_USER": "orchestrator",
        "QUARRY_NATS_PASSWORD": server.passwords["orchestrator"],
        "QUARRY_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen([sys.executable, "-m", "services.orchestrator"], env=env, cwd=REPO)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def test_every_decision_survives_a_kill_9_of_the_orchestrator_mid_look(
    server: PrivateNats, database_url: str, tmp_path: Path
) -> None:
    """Killed with SIGKILL while it looks every second (a look half-done is never committed, and
    its timer, unacknowledged, comes back), the orchestrator restarted on the same store has every
    decision once, and looks on."""
    nc = await nats.connect(server.admin_url)
    store = tmp_path / "store"
    try:
        with orchestrator_process(server, store, database_url):
            candidate = await candidate_of(nc, "answerer")
            started = await ask(nc, subjects.ROLLOUT_START, start_request("answerer", candidate), RolloutReply)
            assert started.error is None, started.error
            rollout_id = started.rollout.rollout_id
            last = await eventually(lambda: _looked(query(nc, rollout_id)), 30, "a first look")
            await asyncio.sleep(random.uniform(0.0, 1.0))  # somewhere in a look, or between two
        for _ in range(2):
            with orchestrator_process(server, store, database_url) as process:
                await eventually(_later_than(nc, rollout_id, last), 60, "a look after the restart")
                last = (await query(nc, rollout_id)).last_look_at
                await asyncio.sleep(random.uniform(1.0, 2.0))
                process.send_signal(signal.SIGKILL)
        with orchestrator_process(server, store, database_url):
            await eventually(lambda: _later(query(nc, rollout_id), last), 60, "a look after the last kill")
            info = await query(nc, rollout_id)
            assert [d.kind for d in info.decisions] == ["started", "held"]
            abort = RolloutCommandRequest(rollout_id=rollout_id, action="abort", tenant_id="t-ops")
            assert (await ask(nc, subjects.ROLLOUT_COMMAND, abort, RolloutReply)).rollout.status == "aborted"
            events = await eventually(
                lambda: _with(rollout_events(server, rollout_id), Aborted), 20, "the abort published"
            )
        assert events is not None
        assert [type(e) for e in events] == [RolloutStarted, Held, Aborted]
    finally:
        await nc.close()
