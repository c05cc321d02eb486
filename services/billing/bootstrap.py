"""Composition root of billing."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from quarry_runtime.bus import Bus
from quarry_runtime.health import store_check
from quarry_runtime.outbox import OutboxRelay
from quarry_runtime.service import Service
from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import eventstore_env
from services.billing import replies
from services.billing.application import Billing
from services.billing.domain import Ledger
from services.billing.handlers import subscriptions
from services.billing.meters import count_credits
from services.billing.payments import build_payments
from services.billing.translate import translate

NAME = "billing"


class BillingSettings(RuntimeSettings):
    """Settings of billing: live Stripe, or (development only) the mock checkout that sells for free."""

    billing_mode: Literal["mock", "live"] | None = Field(
        default=None,
        description="live: Stripe; mock: checkouts apply at once, unpaid (development only). "
        "Unset: live when a Stripe key is set or outside development, else mock",
    )
    stripe_secret_key: str | None = Field(default=None, description="sk_live_... / sk_test_...; live mode needs it")
    stripe_webhook_secret: str | None = Field(default=None, description="whsec_...: verifies Stripe-Signature")
    stripe_api_base: str | None = Field(default=None, description="another Stripe API address (a local server)")
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1, description="oldest signature timestamp accepted")

    @property
    def mode(self) -> Literal["mock", "live"]:
        """The mode in force: production never falls back to mock for want of a key."""
        if self.billing_mode is not None:
            return self.billing_mode
        # A key someone set means they want Stripe, in development too (a local Stripe server).
        return "mock" if self.environment == "development" and not self.stripe_secret_key else "live"

    @model_validator(mode="after")
    def _mode_fits_the_environment(self) -> Self:
        if self.mode == "mock" and self.environment != "development":
            raise ValueError(
                f"QUARRY_BILLING_MODE=mock gives credits away (a checkout applies unpaid) and is allowed only "
                f"with QUARRY_ENVIRONMENT=development, not {self.environment}"
            )
        if self.mode == "live":
            missing = [
                name
                for name, value in (
                    ("QUARRY_STRIPE_SECRET_KEY", self.stripe_secret_key),
                    ("QUARRY_STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"billing runs live (QUARRY_BILLING_MODE=live, or unset outside development) and needs "
                    f"{' and '.join(missing)}: without them no checkout could be paid or confirmed"
                )
            if not (self.stripe_secret_key or "").startswith(("sk_", "rk_")) or not (
                self.stripe_webhook_secret or ""
            ).startswith("whsec_"):
                raise ValueError(
                    "QUARRY_STRIPE_SECRET_KEY must be a Stripe key (sk_... or rk_...) and "
                    "QUARRY_STRIPE_WEBHOOK_SECRET a signing secret (whsec_...), not a placeholder"
                )
        return self


def build(settings: RuntimeSettings) -> Service:
    app = Billing(env=eventstore_env(settings, NAME))
    bus = Bus.from_settings(settings, NAME)
    billing = settings if isinstance(settings, BillingSettings) else BillingSettings()
    payments = build_payments(
        billing.mode,
        billing.environment,
        billing.stripe_secret_key,
        billing.stripe_webhook_secret,
        billing.stripe_api_base,
        billing.stripe_webhook_tolerance_s,
    )

    def ledger_at(originator_id: Any, version: int | None) -> Ledger:
        """The ledger as of a version (None: the latest, from the aggregate cache)."""
        found: Ledger = app.repository.get(originator_id, version=version)
        return found

    relay = OutboxRelay(app, bus, lambda domain_event: translate(domain_event, ledger_at), relayed=count_credits)
    group = app.group_commit(on_saved=relay.wake)
    for sub in subscriptions(app):
        bus.subscribe(sub)
    return Service(
        NAME,
        bus,
        background=[relay.run, group.run, replies.serve(bus, app, payments)],
        on_stop=[app.close],
        # The event store answers (a notification-log read); a store away past the grace fails liveness.
        checks={"store": store_check(app.recorder.max_notification_id)},
    )
