"""Workers run the agent version a task names, on a real JetStream: the real orchestrator keeps the
registered versions and a real analyst, connected as its own NATS user, resolves the version a
dispatched task carries and plans by it; an injected fault fails the task for good in development
and the configuration is refused anywhere else; a version nobody registered fails retryably. A
live analyst (local OpenAI-compatible servers) asks the model a version names, plans by the rules
for an offline version, and leaves a tenant that set its own endpoint on its own model."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from contracts import subjects
from contracts.agents import AgentConfig, AgentRef, RegisterAgentReply, RegisterAgentRequest, agent_version
from contracts.envelope import Event
from contracts.ids import new_id
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskFailed, TaskSucceeded
from contracts.usage import UsageRecorded
from quarry_runtime.agent_configs import AgentConfigs
from quarry_runtime.bus import Bus, Subscription
from quarry_runtime.tenant_models import ModelEndpoint, TenantModels
from quarry_runtime.worker import TaskError
from services.analyst.bootstrap import AnalystSettings
from services.analyst.bootstrap import build as build_analyst
from services.orchestrator.bootstrap import OrchestratorSettings
from services.orchestrator.bootstrap import build as build_orchestrator
from tests.fakes.llm import API_KEY
from tests.servers import PrivateNats
from tests.support import tenant_models
from tests.support.control_plane import running
from tests.support.polling import eventually
from tests.support.services import in_process
from tests.support.tenant_models import SECRETS_KEY, Llms, llms

pytestmark = pytest.mark.infra
__all__ = ["llms"]  # the fixture

QUESTION = "How do Python generators compare with asyncio coroutines, and when is each the better choice?"
SHORT = AgentConfig(mode="offline", parameters={"max_sub_questions": 1})
FAILING = AgentConfig.model_validate({"mode": "offline", "fault": {"fail_rate": 1.0, "extra_latency_ms": 50}})


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


def plan_task(
    version: str | None, question: str = QUESTION, tenant: str = "t-agents", depth: int = 3
) -> TaskDispatched:
    agent = AgentRef(component="planner", version=version) if version else None
    payload = TaskDispatchedPayload(
        task_id=new_id(),
        kind="plan",
        role="analyst",
        input={"question": question, "depth": depth},
        agent=agent,
    )
    return TaskDispatched.create(payload, tenant_id=tenant, run_id=new_id())


@contextlib.asynccontextmanager
async def observed(server: PrivateNats) -> AsyncIterator[tuple[Bus, dict[str, Event]]]:
    """A bus of the test's own user, and each task's outcome by task id as it is published."""
    outcomes: dict[str, Event] = {}

    async def note(ev: Event) -> None:
        if isinstance(ev, TaskSucceeded | TaskFailed):
            outcomes[ev.payload.task_id] = ev
        if isinstance(ev, UsageRecorded):
            outcomes[f"usage:{ev.payload.task_id}"] = ev

    name = f"test-agents-{uuid.uuid4().hex[:8]}"
    observer = Bus(server.admin_url, name)
    observer.subscribe(Subscription("task.v1.>", f"{name}-tasks", note))
    observer.subscribe(Subscription("usage.v1.>", f"{name}-usage", note))
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


async def test_a_live_analyst_asks_the_model_a_version_names_unless_the_tenant_has_its_own(
    server: PrivateNats, tmp_path: Path, llms: Llms
) -> None:
    (platform, platform_url), (own, own_url) = llms
    settings = live_settings(server, tmp_path / "live", platform_url)
    named = AgentConfig(mode="llm", model="small-1", parameters={"temperature": 0.0})
    rules = AgentConfig(mode="offline", parameters={"max_sub_questions": 2})
    orchestrator = build_orchestrator(orchestrator_settings(server, tmp_path / "orchestrator"))
    async with running(server, orchestrator), observed(server) as (bus, outcomes):
        small, offline = await register(server, named), await register(server, rules)
        tenant_with_own = f"t{uuid.uuid4().hex[:10]}"
        await tenants(bus).put(tenant_with_own, ModelEndpoint(own_url, "tenant-model", API_KEY), updated_by="u")
        asked = {name: f"How do {name} generators work?" for name in ("named", "rules", "own")}
        async with in_process(build_analyst(settings)):
            by_small = await outcome(bus, outcomes, plan_task(small, asked["named"], depth=1))
            by_rules = await outcome(bus, outcomes, plan_task(offline, asked["rules"], depth=1))
            by_own = await outcome(bus, outcomes, plan_task(offline, asked["own"], tenant_with_own, 1))

    assert isinstance(by_small, TaskSucceeded) and platform.calls[asked["named"]] == 1
    usage = outcomes[f"usage:{by_small.payload.task_id}"]
    assert isinstance(usage, UsageRecorded) and usage.payload.model == "small-1"  # not platform-model
    # Offline: the rules plan, no model is asked, though the service is live.
    assert isinstance(by_rules, TaskSucceeded) and platform.calls[asked["rules"]] == 0
    assert 1 <= len(by_rules.payload.output["sub_questions"]) <= 2
    # The tenant's own endpoint and model, whatever the version's mode; its knobs still apply.
    assert isinstance(by_own, TaskSucceeded) and own.calls[asked["own"]] == 1 and platform.calls[asked["own"]] == 0
    assert len(by_own.payload.output["sub_questions"]) == 2  # the version's cap on the model's plan


def live_settings(server: PrivateNats, data_dir: Path, platform_url: str) -> AnalystSettings:
    """The tenant-models tests' live analyst, connected as its own NATS user."""
    return tenant_models.analyst_settings(
        server.url,
        data_dir,
        platform_url,
        environment="development",
        nats_user="analyst",
        nats_password=server.passwords["analyst"],
    )


def tenants(bus: Bus) -> TenantModels:
    """The tenants' model settings, written as the gateway writes them."""
    return TenantModels(lambda: bus.broker.connection.jetstream(), SECRETS_KEY, replicas=1)


async def test_a_version_is_asked_for_once_and_an_absent_orchestrator_is_retried(
    server: PrivateNats, tmp_path: Path
) -> None:
    nc = await nats.connect(server.admin_url)
    try:
        agents = AgentConfigs(lambda: nc.request, timeout_s=1.0, cache_size=1)
        ref = AgentRef(component="planner", version=agent_version("planner", SHORT))
        with pytest.raises(TaskError) as nobody:  # no orchestrator listening yet
            await agents.resolve(ref)
        assert nobody.value.retryable and "did not answer" in str(nobody.value)
        orchestrator = build_orchestrator(orchestrator_settings(server, tmp_path / "orchestrator"))
        async with running(server, orchestrator):
            short, failing = await register(server, SHORT), await register(server, FAILING)
            assert short == ref.version
            assert await agents.resolve(ref) == SHORT and await agents.resolve(ref) == SHORT
            asked = agents.asked
            # A cache of one: another version pushes the first out, so it is asked for again.
            other = AgentRef(component="planner", version=failing)
            assert await agents.resolve(other) == FAILING
            assert await agents.resolve(ref) == SHORT and agents.asked == asked + 2
            # The version of another component is not this one, whatever the store holds.
            with pytest.raises(TaskError, match="not registered"):
                await agents.resolve(AgentRef(component="ranker", version=short))
    finally:
        await nc.close()
