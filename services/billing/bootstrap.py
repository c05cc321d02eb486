"""Composition root of billing."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from quarry_runtime.bus import Bus
from quarry_runtime.groupcommit import GroupCommit
from quarry_runtime.outbox import OutboxRelay
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing import replies
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.handlers import subscriptions
from services.billing.payments import build_payments
from services.billing.translate import translate

NAME = "billing"


class BillingSettings(RuntimeSettings):
    """Settings of billing: live Stripe when a secret key is set, the mock checkout otherwise."""

    stripe_secret_key: str | None = Field(default=None, description="sk_live_... / sk_test_...; unset: mock mode")
    stripe_webhook_secret: str | None = Field(default=None, description="whsec_...: verifies Stripe-Signature")
    stripe_api_base: str | None = Field(default=None, description="another Stripe API address (a local server)")
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1, description="oldest signature timestamp accepted")


def build(settings: RuntimeSettings) -> Service:
    app = Billing(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)
    billing = settings if isinstance(settings, BillingSettings) else BillingSettings()
    payments = build_payments(
        billing.stripe_secret_key,
        billing.stripe_webhook_secret,
        billing.stripe_api_base,
        billing.stripe_webhook_tolerance_s,
    )

    def ledger_at(originator_id: Any, version: int | None) -> Ledger:
        """The ledger as of a version (None: the latest, from the aggregate cache)."""
        found: Ledger = app.repository.get(originator_id, version=version)
        return found

    relay = OutboxRelay(app, bus, lambda domain_event: translate(domain_event, ledger_at))
    app.on_saved = relay.wake
    group = GroupCommit(app, after_commit=app.committed, on_drop=app.forget_aggregate)
    app.group = group
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(NAME, bus, background=[relay.run, group.run, replies.serve(bus, app, payments)], on_stop=[app.close])
