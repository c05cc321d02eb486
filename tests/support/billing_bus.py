"""Billing on the gateway's request/reply connection, in process: billing's own reply builders on
an in-memory ledger (what billing's replicas run), or no one while `silent`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import nats.errors

from services.billing.application import Billing
from services.billing.payments import Payments
from services.billing.replies import responders


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
