"""Fixtures the integration tests share: the gateway's API in process on a real JetStream, a NATS
and a PostgreSQL of a module's own, and a store on each backend a service runs on."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.aio.client import Client

from devtools.pgserver import EphemeralCluster
from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings
from tests.integration.full_disk import STORE_LIMIT, FullableVolume, jetstream_with_limit
from tests.servers import PrivateNats, own_postgres, private_nats
from tests.support.control_plane import ControlPlane
from tests.support.gateway import JWT_SECRET, asgi_client
from tests.support.people import platform


@pytest.fixture
def gateway_settings(nats_url: str, tmp_path: Path) -> GatewaySettings:
    """Override in a module to configure the gateway otherwise."""
    return GatewaySettings(data_dir=tmp_path / "gateway", jwt_secret=JWT_SECRET, nats_url=nats_url)


@pytest.fixture
def gateway_app(gateway_settings: GatewaySettings) -> FastAPI:
    return build_gateway(gateway_settings)


@pytest.fixture
async def gateway(gateway_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(gateway_app) as http:
        yield http


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNats]:
    """A NATS for the module alone with every service's user, as the stack runs it: the services
    a module starts connect as themselves, with only their permissions."""
    with private_nats(tmp_path_factory.mktemp("nats")) as own:
        yield own


@pytest.fixture
async def admin(server: PrivateNats) -> AsyncIterator[Client]:
    """The test's own connection to `server`, without limits: it publishes and looks at what
    JetStream holds."""
    nc = await nats.connect(server.admin_url)
    yield nc
    await nc.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url_or_none(request: pytest.FixtureRequest) -> str | None:
    """The store a test runs on, once on each backend: None for SQLite in the data directory, else a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.fixture(scope="module")
def cluster() -> Iterator[EphemeralCluster]:
    """A PostgreSQL for the module alone, which its tests may stop and restart."""
    with own_postgres() as own:
        yield own


@pytest.fixture
def full_disk_bus(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """A nats-server of the test's own whose JetStream store fills at STORE_LIMIT."""
    with jetstream_with_limit(tmp_path / "nats", STORE_LIMIT) as server:
        yield server


@pytest.fixture(scope="module")
def volume() -> Iterator[FullableVolume]:
    """A PostgreSQL of the module's own whose tables live on a volume the tests fill."""
    own = FullableVolume()
    yield own
    own.close()


@pytest.fixture
async def control_plane(
    gateway: httpx.AsyncClient,
    gateway_settings: GatewaySettings,
    server: PrivateNats,
    database_url_or_none: str | None,
    tmp_path: Path,
) -> ControlPlane:
    """A tenant's owner, a platform operator and a platform admin, and the orchestrator's store on
    each backend (the module gives the gateway's settings, as the control plane needs them)."""
    people = await platform(gateway, gateway_settings, tmp_path)
    return ControlPlane(people, server, tmp_path / "orchestrator", database_url_or_none)
