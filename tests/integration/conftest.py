"""Fixtures the integration tests share: the gateway's API in process on a real JetStream, and a
PostgreSQL of a module's own."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from devtools.pgserver import EphemeralCluster
from services.gateway.bootstrap import build as build_gateway
from services.gateway.settings import GatewaySettings
from tests.integration.full_disk import STORE_LIMIT, FullableVolume, jetstream_with_limit
from tests.servers import own_postgres
from tests.support.gateway import JWT_SECRET, asgi_client


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
