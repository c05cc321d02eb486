"""Fixtures the unit tests share: the gateway's API in process, on SQLite, without a bus (or with
billing answering its questions in place of one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.readmodels.store import GatewayStore
from tests.support.gateway import offline_gateway


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
