"""Fixtures the unit tests share: the gateway's API in process, on SQLite, without a bus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway.readmodels.store import GatewayStore
from tests.support.gateway import offline_gateway


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[TestClient, GatewayStore]]:
    with offline_gateway(tmp_path) as both:
        yield both


@pytest.fixture
def http(gateway: tuple[TestClient, GatewayStore]) -> TestClient:
    return gateway[0]
