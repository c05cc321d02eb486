"""Composition root of billing."""

from __future__ import annotations

from quarry_runtime.bus import Bus
from quarry_runtime.outbox import OutboxRelay, aggregate_at
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing.application import Billing
from services.billing.handlers import subscriptions
from services.billing.translate import translate

NAME = "billing"


class BillingSettings(RuntimeSettings):
    """Settings of billing (Stripe keys arrive with the billing issue)."""


def build(settings: RuntimeSettings) -> Service:
    app = Billing(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)

    ledger_at = aggregate_at(app)
    relay = OutboxRelay(app, bus, lambda domain_event: translate(domain_event, ledger_at))
    app.on_saved = relay.wake
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run], on_stop=[app.close])
