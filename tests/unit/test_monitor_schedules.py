"""A monitor's cron schedule obeys the same minimum interval as a fixed one (the shortest gap
between two fires, across midnight too), and a cron that never fires is a 422, answered quickly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from contracts.billing import Entitlements, EntitlementsQuery
from quarry_runtime.store import SqlDatabase
from services.billing.application import Billing
from services.billing.queries import entitlements
from services.gateway.domain.cron import NeverFires, shortest_gap_s
from services.gateway.settings import GatewaySettings
from tests.support.gateway import KeptBus, limited_app

NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
FIVE_MINUTES = 300


@pytest.mark.parametrize(
    ("cron", "gap"),
    [
        ("* * * * *", 60),
        ("*/2 * * * *", 120),
        ("0,1 12 1 1 *", 60),  # twice a year, a minute apart
        ("59 11,12 * * *", 3600),  # 11:59 then 12:59: an hour
        ("0,59 0,23 * * *", 60),  # 23:59 then 00:00 the next day
        ("0,58 0,23 1,29 * *", 120),  # 23:58 on the 29th and 00:00 on the 1st (a leap February)
    ],
)
def test_the_shortest_gap_is_found_within_a_day_and_across_midnight(cron: str, gap: int) -> None:
    below = max(gap + 1, FIVE_MINUTES)
    assert shortest_gap_s(cron, NOW, below_s=below) == gap


@pytest.mark.parametrize("cron", ["*/5 * * * *", "0 9 * * 1", "0 0 1 1 *", "0,59 0,23 * * 1", "0 0 L * *"])
def test_schedules_at_least_the_minimum_apart_pass(cron: str) -> None:
    assert shortest_gap_s(cron, NOW, below_s=FIVE_MINUTES) is None


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 *"])
def test_a_cron_that_never_fires_is_refused_in_bounded_time(cron: str) -> None:
    started = time.monotonic()
    with pytest.raises(NeverFires):
        shortest_gap_s(cron, NOW, below_s=FIVE_MINUTES)
    assert time.monotonic() - started < 1.0


@pytest.fixture
def owner(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], KeptBus]]:
    settings = GatewaySettings(data_dir=tmp_path, monitor_min_interval_s=FIVE_MINUTES)
    db = SqlDatabase(settings, "gateway")
    bus = KeptBus()
    billing = Billing(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})

    async def ask(query: EntitlementsQuery) -> Entitlements:
        return entitlements(billing, query)

    http = TestClient(limited_app(settings, db, bus, ask))
    r = http.post(
        "/v1/auth/signup",
        json={"email": "o@example.com", "password": "a-long-passphrase-9", "tenant_name": "acme"},
    )
    assert r.status_code == 201, r.text
    yield http, {"Authorization": f"Bearer {r.json()['access_token']}"}, bus
    db.close()


def test_the_api_applies_the_minimum_interval_to_cron_and_refuses_a_cron_that_never_fires(
    owner: tuple[TestClient, dict[str, str], KeptBus],
) -> None:
    http, auth, bus = owner
    ask = {"question": "What changed in asyncio?"}
    for too_often in ("* * * * *", "0,59 0,23 * * *"):
        r = http.post("/v1/monitors", json=ask | {"cron": too_often}, headers=auth)
        assert r.status_code == 400 and "300" in r.text, r.text
    r = http.post("/v1/monitors", json=ask | {"cron": "0 0 30 2 *"}, headers=auth)
    assert r.status_code == 422 and "never fires" in r.text, r.text
    assert bus.published == []
    r = http.post("/v1/monitors", json=ask | {"cron": "0 9 * * 1"}, headers=auth)
    assert r.status_code == 202, r.text
    assert len(bus.published) == 1
