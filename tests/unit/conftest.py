"""Fixtures the unit tests share: the gateway's API in process, on SQLite, without a bus (or with
billing answering its questions in place of one), and the orchestrator on in-memory storage at a
clock of the test's (`app`, which a module of another service's tests overrides with its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.readmodels.store import GatewayStore
from services.orchestrator.application import Orchestrator
from tests.support.gateway import offline_gateway
from tests.support.orchestrator import Clock, orchestrator_at


@pytest.fixture
def bus() -> object:
    """What answers the gateway's questions in place of the bus: nothing. A module that needs
    billing's answers overrides it with `billing_bus.BillingOnTheBus`."""
    return None


@pytest.fixture
def gateway(tmp_path: Path, bus: object) -> Iterator[tuple[TestClient, GatewayStore]]:
    with offline_gateway(tmp_path, bus) as both:
        yield both


@pytest.fixture
def http(gateway: tuple[TestClient, GatewayStore]) -> TestClient:
    return gateway[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Orchestrator:
    return orchestrator_at(clock)
