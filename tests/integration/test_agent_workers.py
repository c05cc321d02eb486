"""Workers run the agent version a task names, on a real JetStream: the real orchestrator keeps the
registered versions and a real analyst, connected as its own NATS user, resolves the version a
dispatched task carries and plans by it; an injected fault fails the task for good in development
and the configuration is refused anywhere else; a version nobody registered fails retryably."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from contracts import subjects
from contracts.agents import AgentConfig, AgentRef, RegisterAgentReply, RegisterAgentRequest, agent_version
from contracts.envelope import Event
from contracts.ids import new_id
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskFailed, TaskSucceeded
from quarry_runtime.bus import Bus, Subscription
from services.analyst.bootstrap import AnalystSettings
from services.analyst.bootstrap import build as build_analyst
from services.orchestrator.bootstrap import OrchestratorSettings
from services.orchestrator.bootstrap import build as build_orchestrator
from tests.integration.test_agent_versions import running
from tests.servers import PrivateNats, private_nats
from tests.support.polling import eventually
from tests.support.services import in_process

pytestmark = pytest.mark.infra

QUESTION = "How do Python generators compare with asyncio coroutines, and when is each the better choice?"
SHORT = AgentConfig(mode="offline", parameters={"max_sub_questions": 1})
FAILING = AgentConfig.model_validate({"mode": "offline", "fault": {"fail_rate": 1.0, "extra_latency_ms": 50}})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNats]:
    with private_nats(tmp_path_factory.mktemp("agent-workers-nats")) as own:
        yield own


def orchestrator_settings(server: PrivateNats, data_dir: Path) -> OrchestratorSettings:
    # Development: the orchestrator registers a configuration with faults only there.
    return OrchestratorSettings(
        environment="development",
        data_dir=data_dir,
        nats_url=server.url,
        nats_user="orchestrator",
        nats_password=server.passwords["orchestrator"],
    )


def analyst_settings(server: PrivateNats, data_dir: Path, environment: str) -> AnalystSettings:
    return AnalystSettings(
        environment=environment,
        data_dir=data_dir,
        nats_url=server.url,
        nats_user="analyst",
        nats_password=server.passwords["analyst"],
    )


async def register(server: PrivateNats, config: AgentConfig) -> str:
    nc = await nats.connect(server.admin_url)
    try:
        asked = RegisterAgentRequest(component="planner", config=config, tenant_id="t-ops")
        answer = await nc.request(subjects.AGENT_REGISTER, asked.model_dump_json().encode(), timeout=10)
    finally:
        await nc.close()
    reply = RegisterAgentReply.model_validate_json(answer.data)
    assert reply.error is None and reply.version == agent_version("planner", config), reply
    return reply.version


def plan_task(version: str | None) -> TaskDispatched:
    agent = AgentRef(component="planner", version=version) if version else None
    payload = TaskDispatchedPayload(
        task_id=new_id(),
        kind="plan",
        role="analyst",
        input={"question": QUESTION, "depth": 3},
        agent=agent,
    )
    return TaskDispatched.create(payload, tenant_id="t-agents", run_id=new_id())


@contextlib.asynccontextmanager
async def observed(server: PrivateNats) -> AsyncIterator[tuple[Bus, dict[str, Event]]]:
    """A bus of the test's own user, and each task's outcome by task id as it is published."""
    outcomes: dict[str, Event] = {}

    async def note(ev: Event) -> None:
        if isinstance(ev, TaskSucceeded | TaskFailed):
            outcomes[ev.payload.task_id] = ev

    name = f"test-agents-{uuid.uuid4().hex[:8]}"
    observer = Bus(server.admin_url, name)
    observer.subscribe(Subscription("task.v1.>", f"{name}-tasks", note))
    await observer.start()
    try:
        yield observer, outcomes
    finally:
        await observer.stop()


async def outcome(observer: Bus, outcomes: dict[str, Event], task: TaskDispatched) -> Any:
    await observer.publish(task, subject=subjects.task_lane("analyst"))
    task_id = task.payload.task_id
    return await eventually(lambda: outcomes.get(task_id), 30, f"the outcome of {task_id}")


async def test_the_analyst_plans_by_the_version_a_task_names(server: PrivateNats, tmp_path: Path) -> None:
    orchestrator = build_orchestrator(orchestrator_settings(server, tmp_path / "orchestrator"))
    async with running(server, orchestrator), observed(server) as (bus, outcomes):
        short, failing = await register(server, SHORT), await register(server, FAILING)
        async with in_process(build_analyst(analyst_settings(server, tmp_path / "analyst", "development"))):
            built_in = await outcome(bus, outcomes, plan_task(None))
            capped = await outcome(bus, outcomes, plan_task(short))
            again = await outcome(bus, outcomes, plan_task(short))  # from the worker's cache
            injected = await outcome(bus, outcomes, plan_task(failing))
            unknown = await outcome(bus, outcomes, plan_task("0" * 64))

        assert isinstance(built_in, TaskSucceeded) and len(built_in.payload.output["sub_questions"]) >= 4
        assert isinstance(capped, TaskSucceeded) and isinstance(again, TaskSucceeded)
        assert capped.payload.output["sub_questions"] == built_in.payload.output["sub_questions"][:1]
        assert again.payload.output == capped.payload.output

        # Development: the fault acts, and the run would fail as the platform's fault (refunded).
        assert isinstance(injected, TaskFailed)
        assert "injected fault" in injected.payload.reason and "fail_rate" in injected.payload.reason
        assert (injected.payload.retryable, injected.payload.fault) == (False, "platform")

        # Never the built-in settings in place of a version the run recorded: try again later.
        assert isinstance(unknown, TaskFailed) and "not registered" in unknown.payload.reason
        assert (unknown.payload.retryable, unknown.payload.fault) == (True, "platform")

        # The same version, on an analyst outside development: refused, never run.
        async with in_process(build_analyst(analyst_settings(server, tmp_path / "analyst-test", "test"))):
            refused = await outcome(bus, outcomes, plan_task(failing))
        assert isinstance(refused, TaskFailed) and not refused.payload.retryable
        assert "a configuration with faults is refused in test" in refused.payload.reason
