"""Agent versions end to end on a real JetStream: the gateway and the orchestrator each connected
as their own NATS user, the orchestrator's store on SQLite and on PostgreSQL. A platform admin
registers a configuration (the same one again is harmless), operators list it, a tenant owner is
refused, the version is announced on the bus once, faults and oversized or unknown input are
refused with a 4xx, every use is audited, and the versions outlive a restart of the orchestrator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nats
import pytest
from fastapi import FastAPI

from contracts import subjects
from contracts.agents import (
    MAX_PROMPT_CHARS,
    AgentConfig,
    AgentVersionRegistered,
    AgentVersionsReply,
    RegisterAgentReply,
    RegisterAgentRequest,
    agent_version,
)
from quarry_security import natsauth
from tests.integration.test_gateway_ops import components
from tests.servers import PrivateNats
from tests.support.control_plane import ControlPlane, gateway_outside_development, orchestrator, running
from tests.support.jetstream import stored_events
from tests.support.polling import eventually

pytestmark = pytest.mark.infra

PLANNER: dict[str, Any] = {
    "mode": "llm",
    "model": "small-1",
    "prompts": {"plan": "Split {question} into at most {n} sub-questions."},
    "parameters": {"temperature": 0.2, "n": 4},
}


gateway_settings = gateway_outside_development


async def registrations(server: PrivateNats) -> list[AgentVersionRegistered]:
    """Every `agent.v1.version_registered` the stream holds, read by the test's own user."""
    found = await stored_events(server.admin_url, subjects.AGENT_VERSION_REGISTERED)
    registered = [e for e in found if isinstance(e, AgentVersionRegistered)]
    assert registered == found
    return registered


async def test_a_platform_admin_registers_once_and_operators_list_it(
    control_plane: ControlPlane, gateway_app: FastAPI, server: PrivateNats
) -> None:
    owner, operator, admin = control_plane.people
    body = {"component": "planner", "config": PLANNER, "note": "shorter plans"}
    expected = agent_version("planner", AgentConfig.model_validate(PLANNER))
    before = len(await registrations(server))

    async with control_plane.orchestrator():
        # A tenant's owner is no operator; an operator reads but does not register.
        assert (await owner.post("/v1/ops/agents", body)).status_code == 403
        assert (await owner.get("/v1/ops/agents")).status_code == 403
        assert (await operator.post("/v1/ops/agents", body)).status_code == 403
        empty = await operator.get("/v1/ops/agents/planner")
        assert empty.status_code == 200, empty.text

        first = await admin.post("/v1/ops/agents", body)
        again = await admin.post("/v1/ops/agents", {**body, "note": "pressed twice"})
        assert first.status_code == 201, first.text
        assert first.json() == {"component": "planner", "version": expected, "created": True}
        assert again.status_code == 200 and again.json()["version"] == expected and not again.json()["created"]

        listed = (await operator.get("/v1/ops/agents/planner")).json()["versions"]
        assert [(v["version"], v["note"]) for v in listed] == [(expected, "shorter plans")]
        assert AgentConfig.model_validate(listed[0]["config"]) == AgentConfig.model_validate(PLANNER)
        assert (await operator.get("/v1/ops/agents/ranker")).json() == {"versions": []}
        everything = (await operator.get("/v1/ops/agents")).json()["versions"]
        assert expected in [v["version"] for v in everything]

        # Announced once on the bus, by the orchestrator's outbox, with the configuration.
        announced = await eventually(lambda: _new(registrations(server), before), 20, "the version to be announced")
        assert [(e.payload.version, e.payload.note) for e in announced] == [(expected, "shorter plans")]
        assert AgentConfig.model_validate(PLANNER) == announced[0].payload.config

    # The versions are the orchestrator's stored state: a new process on the same store has them.
    async with control_plane.orchestrator():
        listed = (await admin.get("/v1/ops/agents/planner")).json()["versions"]
        assert [v["version"] for v in listed] == [expected]
        assert (await admin.post("/v1/ops/agents", body)).status_code == 200
    assert [e.payload.version for e in await _new(registrations(server), before)] == [expected]

    audit = components(gateway_app).store.platform_audit
    changes = [e["target"] for e in audit.entries(kind="ops.change")]
    assert changes.count("POST /v1/ops/agents") == 3  # the admin's attempts (the others never got in)
    done = audit.entries(kind="ops.agent.registered")
    assert [(e["detail"]["version"], e["detail"]["created"]) for e in done] == [
        (expected, True),
        (expected, False),
        (expected, False),
    ]
    assert {e["actor"]["name"] for e in done} == {admin.email}
    reads = [e["target"] for e in audit.entries(kind="ops.read")]
    assert "GET /v1/ops/agents/{component}" in reads and "GET /v1/ops/agents" in reads


async def test_faults_oversized_and_unknown_input_are_refused_with_a_4xx(
    control_plane: ControlPlane, server: PrivateNats
) -> None:
    admin = control_plane.people.admin
    async with control_plane.orchestrator():
        faulty = {"component": "ranker", "config": {**PLANNER, "fault": {"fail_rate": 1.0}}}
        refused = await admin.post("/v1/ops/agents", faulty)
        assert refused.status_code == 422 and "QUARRY_ENVIRONMENT=development" in refused.text
        # Nor does the orchestrator take one from a gateway that would let it through.
        nc = await nats.connect(server.admin_url)
        try:
            asked = RegisterAgentRequest.model_validate({**faulty, "tenant_id": "t-ops"})
            answer = await nc.request(subjects.AGENT_REGISTER, asked.model_dump_json().encode(), timeout=5)
        finally:
            await nc.close()
        reply = RegisterAgentReply.model_validate_json(answer.data)
        assert (reply.status, reply.version) == (422, None) and "fault" in (reply.error or "")
        for bad in (
            {"component": "critic", "config": PLANNER},
            {"component": "planner", "config": {**PLANNER, "prompts": {"plan": "x" * (MAX_PROMPT_CHARS + 1)}}},
            {"component": "planner", "config": {**PLANNER, "parameters": {f"k{i}": i for i in range(51)}}},
            {"component": "planner", "config": {**PLANNER, "parameters": {"k": 10**20}}},
            {"component": "planner", "config": PLANNER, "note": "n" * 2001},
            {"component": "planner", "config": {"mode": ""}},
        ):
            r = await admin.post("/v1/ops/agents", bad)
            assert r.status_code == 422, (bad, r.text)
        assert (await admin.get("/v1/ops/agents/critic")).status_code == 422
        assert (await admin.get("/v1/ops/agents")).json() == {"versions": []}


async def _new(found: Any, before: int) -> list[AgentVersionRegistered]:
    events: list[AgentVersionRegistered] = await found
    return events[before:]


async def test_two_replicas_asked_at_once_record_each_version_once(
    server: PrivateNats, database_url: str, tmp_path: Path
) -> None:
    """Requests go to either replica (a queue group); both write one PostgreSQL store, so a replica
    whose save loses the race reloads and answers with the version the other stored."""
    configs = [{**PLANNER, "parameters": {"n": n}} for n in range(4)]
    async with (
        running(server, orchestrator(server, tmp_path / "store", database_url)),
        running(server, orchestrator(server, tmp_path / "store", database_url)),
    ):
        nc = await nats.connect(server.admin_url)
        try:

            async def register(config: dict[str, Any]) -> RegisterAgentReply:
                asked = RegisterAgentRequest.model_validate(
                    {"component": "synthesiser", "config": config, "tenant_id": "t-ops"}
                )
                answer = await nc.request(subjects.AGENT_REGISTER, asked.model_dump_json().encode(), timeout=15)
                return RegisterAgentReply.model_validate_json(answer.data)

            replies = await asyncio.gather(*(register(c) for c in configs for _ in range(3)))
            listed = await nc.request(subjects.AGENT_VERSIONS, b'{"component": "synthesiser"}', timeout=5)
        finally:
            await nc.close()
    assert all(r.error is None for r in replies), [r.error for r in replies]
    expected = [agent_version("synthesiser", AgentConfig.model_validate(c)) for c in configs]
    by_version = {v: [r.created for r in replies if r.version == v] for v in expected}
    assert all(sorted(created) == [False, False, True] for created in by_version.values()), by_version
    stored = AgentVersionsReply.model_validate_json(listed.data).versions
    assert sorted(v.version for v in stored) == sorted(expected)


def test_the_orchestrator_user_may_answer_and_announce_agent_versions() -> None:
    """The NATS users the test's server has (natsauth): only the gateway asks, only the orchestrator answers."""
    orchestrator_user = natsauth.permissions("orchestrator")
    assert subjects.AGENT_REGISTER in orchestrator_user.subscribe and orchestrator_user.responds
    assert subjects.AGENT_VERSION_REGISTERED in orchestrator_user.publish
    assert subjects.AGENT_REGISTER in natsauth.permissions("gateway").publish
