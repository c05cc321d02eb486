"""Composition root of billing."""

from __future__ import annotations

from typing import Any

from quarry_runtime.bus import Bus
from quarry_runtime.outbox import OutboxRelay
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.handlers import subscriptions
from services.billing.translate import translate

NAME = "billing"


class BillingSettings(RuntimeSettings):
    """Settings of billing (Stripe keys arrive with the billing issue)."""


def build(settings: RuntimeSettings) -> Service:
    app = Billing(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)

    def ledger_at(originator_id: Any, version: int) -> Ledger:
        ledger: Ledger = app.repository.get(originator_id, version=version)
        return ledger

    relay = OutboxRelay(app, bus, lambda domain_event: translate(domain_event, ledger_at))
    app.on_saved = relay.wake
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run], on_stop=[app.close])
