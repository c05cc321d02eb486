"""Billing on the gateway's request/reply connection, in process: billing's own reply builders on
an in-memory ledger (what billing's replicas run), or no one while `silent`; and the gateway's app
in process, asking it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import nats.errors
from fastapi.testclient import TestClient

from quarry_runtime.store import SqlDatabase
from services.billing.application import Billing
from services.billing.payments import Payments
from services.billing.replies import responders
from services.gateway.api.deps import Components
from services.gateway.app import create_app
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import RunFeed
from services.gateway.readmodels.store import GatewayStore
from services.gateway.settings import GatewaySettings


class BillingOnTheBus:
    """The gateway's request/reply connection, answered by billing's reply builders."""

    def __init__(self) -> None:
        self.billing = Billing(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.table = responders(self.billing, Payments(environment="test"))
        self.silent = False
        self.asked: list[str] = []
        self.broker = self
        self.connection = self

    async def request(self, subject: str, data: bytes, **_: Any) -> Any:
        self.asked.append(subject)
        if self.silent:
            raise nats.errors.TimeoutError
        return SimpleNamespace(data=(await self.table[subject](data)).model_dump_json().encode())


@contextmanager
def gateway_answered_by_billing(data_dir: Path, bus: BillingOnTheBus) -> Iterator[tuple[TestClient, GatewayStore]]:
    """The gateway's app in process on the embedded store under `data_dir`, its requests to
    billing answered by `bus`; with the store, to record runs in."""
    settings = GatewaySettings(data_dir=data_dir, web_dist=data_dir / "none")
    db = SqlDatabase(settings, "gateway")
    store = GatewayStore(db)
    parts = Components(settings, store, cast(Any, bus), RunFeed(), cast(Any, None), MonitorStore(db))
    try:
        yield TestClient(create_app(parts)), store
    finally:
        db.close()
