"""Billing's mode is explicit: mock (checkouts applied unpaid) only in development, live needs Stripe."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from contracts import subjects
from contracts.billing import CheckoutReply, CheckoutRequest
from services.billing.application import Billing
from services.billing.bootstrap import BillingSettings
from services.billing.payments import LiveStripe, Payments, build_payments
from services.billing.plans import PACKS, PLANS
from services.billing.replies import responders

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
SK, WHSEC = "sk_test_123", "whsec_123"


def test_unset_mode_is_live_outside_development_and_refuses_to_start_without_stripe_keys() -> None:
    for environment in ("production", "test"):
        with pytest.raises(ValidationError, match="QUARRY_STRIPE_SECRET_KEY and QUARRY_STRIPE_WEBHOOK_SECRET"):
            BillingSettings(environment=environment)
    with pytest.raises(ValidationError, match="QUARRY_STRIPE_WEBHOOK_SECRET"):
        BillingSettings(environment="production", stripe_secret_key="sk_test_123")
    assert BillingSettings(environment="production", stripe_secret_key=SK, stripe_webhook_secret=WHSEC).mode == "live"


def test_the_environment_defaults_to_production_so_an_unconfigured_billing_never_runs_mock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("QUARRY_ENVIRONMENT", raising=False)  # the tests' conftest says development
    with pytest.raises(ValidationError, match="needs QUARRY_STRIPE_SECRET_KEY"):
        BillingSettings()


def test_mock_mode_is_allowed_only_in_development() -> None:
    for environment in ("production", "test"):
        with pytest.raises(ValidationError, match="allowed only with QUARRY_ENVIRONMENT=development"):
            BillingSettings(
                environment=environment, billing_mode="mock", stripe_secret_key=SK, stripe_webhook_secret=WHSEC
            )
    assert BillingSettings(environment="development").mode == "mock"
    assert BillingSettings(environment="development", billing_mode="mock").mode == "mock"


def test_live_mode_needs_the_key_even_in_development() -> None:
    with pytest.raises(ValidationError, match="needs QUARRY_STRIPE_SECRET_KEY"):
        BillingSettings(environment="development", billing_mode="live")
    settings = BillingSettings(
        environment="development", billing_mode="live", stripe_secret_key=SK, stripe_webhook_secret=WHSEC
    )
    payments = build_payments(settings.mode, settings.environment, settings.stripe_secret_key, None, None, 300)
    assert isinstance(payments, LiveStripe) and payments.mode == "live"
    with pytest.raises(ValueError, match="QUARRY_STRIPE_SECRET_KEY"):
        build_payments("live", "production", None, None, None, 300)


def checkout(kind: Literal["subscription", "pack"], item: str, key: str) -> bytes:
    req = CheckoutRequest(
        tenant_id="t1", kind=kind, item=item, success_url="https://x/ok", cancel_url="https://x/no", request_id=key
    )
    return req.model_dump_json().encode()


@pytest.mark.parametrize("environment", ["production", "test"])
async def test_a_mock_checkout_outside_development_is_refused_and_grants_nothing(environment: str) -> None:
    app = Billing(env=POPO)
    on_checkout = responders(app, Payments(environment=environment))[subjects.BILLING_CHECKOUT]
    before = app.balance("t1")
    # The exploit: three checkouts took a balance from 457 to 30,457.
    buys: list[tuple[Literal["subscription", "pack"], str]] = [
        ("pack", "pack_10k"),
        ("pack", "pack_10k"),
        ("subscription", "enterprise"),
    ]
    for i, (kind, item) in enumerate(buys):
        reply = await on_checkout(checkout(kind, item, f"k{i}"))
        assert isinstance(reply, CheckoutReply)
        assert reply.status == 403 and not reply.completed, reply
        assert reply.error and "QUARRY_ENVIRONMENT" in reply.error
    assert app.balance("t1") == before
    assert app.ledger("t1", copy=True).plan == "free"


async def test_a_mock_checkout_in_development_applies_at_once() -> None:
    app = Billing(env=POPO)
    on_checkout = responders(app, Payments(environment="development"))[subjects.BILLING_CHECKOUT]
    before = app.balance("t1")
    reply = await on_checkout(checkout("pack", "pack_1k", "k1"))
    assert isinstance(reply, CheckoutReply) and reply.completed and reply.status == 200
    assert app.balance("t1") == before + PACKS["pack_1k"].credits
    assert PLANS["free"].monthly_credits == before


def test_the_manifest_placeholders_are_refused_as_stripe_keys() -> None:
    with pytest.raises(ValidationError, match="not a placeholder"):
        BillingSettings(
            environment="production",
            stripe_secret_key="PLACEHOLDER-sk_live",
            stripe_webhook_secret="PLACEHOLDER-whsec",
        )


def test_the_k8s_manifest_runs_billing_live_with_both_keys_from_the_secret() -> None:
    root = Path(__file__).resolve().parents[2] / "infra" / "k8s"
    deployment = yaml.safe_load((root / "billing.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["QUARRY_BILLING_MODE"]["value"] == "live"
    for key in ("QUARRY_STRIPE_SECRET_KEY", "QUARRY_STRIPE_WEBHOOK_SECRET"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "quarry-secrets", "key": key}
    secret = yaml.safe_load((root / "secret.example.yaml").read_text())["stringData"]
    config = yaml.safe_load((root / "configmap.yaml").read_text())["data"]
    assert config["QUARRY_ENVIRONMENT"] == "production"
    # As the pod would read them: the example's placeholders stop billing at start.
    with pytest.raises(ValidationError, match="not a placeholder"):
        BillingSettings(
            environment=config["QUARRY_ENVIRONMENT"],
            billing_mode=env["QUARRY_BILLING_MODE"]["value"],
            stripe_secret_key=secret["QUARRY_STRIPE_SECRET_KEY"],
            stripe_webhook_secret=secret["QUARRY_STRIPE_WEBHOOK_SECRET"],
        )


def test_a_stripe_key_without_a_mode_means_live_in_development_too() -> None:
    assert BillingSettings(environment="development", stripe_secret_key=SK, stripe_webhook_secret=WHSEC).mode == "live"
