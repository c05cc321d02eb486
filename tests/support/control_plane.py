"""The orchestrator as the control plane behind the gateway's `/v1/ops/agents` and
`/v1/ops/rollouts`, in process on a module's own NATS (`tests.servers.PrivateNats`), each service
connected as its own user, and the people who use those routes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest

from contracts import subjects
from quarry_runtime.service import Service
from services.gateway.settings import GatewaySettings
from services.orchestrator.bootstrap import OrchestratorSettings, build
from tests.servers import PrivateNats
from tests.support.gateway_on_nats import gateway_as_itself
from tests.support.people import Platform
from tests.support.polling import eventually
from tests.support.services import in_process


def orchestrator(server: PrivateNats, data_dir: Path, database_url: str | None) -> Service:
    settings = OrchestratorSettings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url,
        # Each test has its own database; a restart on the same data directory finds the same schema.
        db_schema_prefix=f"agents_{uuid.uuid5(uuid.NAMESPACE_URL, str(data_dir)).hex[:6]}_",
        nats_url=server.url,
        nats_user="orchestrator",
        nats_password=server.passwords["orchestrator"],
    )
    return build(settings)


@contextlib.asynccontextmanager
async def running(server: PrivateNats, service: Service) -> AsyncIterator[Service]:
    """The orchestrator in process, entered once it answers (asked by the test's own user: the
    orchestrator's may answer requests, not make them)."""
    async with in_process(service):
        nc = await nats.connect(server.admin_url)
        try:

            async def answers() -> bool:
                try:
                    await nc.request(subjects.AGENT_VERSIONS, b"{}", timeout=0.5)
                except nats.errors.Error:
                    return False
                return True

            await eventually(answers, 20, "the orchestrator to answer on agent.v1.versions")
        finally:
            await nc.close()
        yield service


@pytest.fixture
def gateway_outside_development(server: PrivateNats, tmp_path: Path) -> GatewaySettings:
    """A gateway outside development (the tests' own environment is development): faults are
    refused. Assign it to `gateway_settings` in a module."""
    return gateway_as_itself(server, tmp_path / "gateway", ops=False, environment="test")


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """The people of the operators' routes, and a store for the orchestrator: each
    `orchestrator()` starts one on it, so a second finds what the first stored."""

    people: Platform
    server: PrivateNats
    store: Path
    database_url: str | None

    def orchestrator(self) -> AbstractAsyncContextManager[Service]:
        return running(self.server, orchestrator(self.server, self.store, self.database_url))
