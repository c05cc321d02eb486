"""Fixtures of the billing service's tests on a real JetStream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.billing.bootstrap import BillingSettings
from tests.fakes.stripe import FakeStripe, serve
from tests.servers import private_nats


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of each test's own: on the session's, the billing and gateway durable consumers
    these tests start would first work through every earlier test's backlog, on the test's loop."""
    with private_nats(tmp_path_factory.mktemp("billing-nats")) as server:
        yield server.admin_url


@pytest.fixture
def billing_settings(nats_url: str, tmp_path: Path) -> BillingSettings:
    """Billing in mock mode (no Stripe) on the test's server."""
    return BillingSettings(data_dir=tmp_path / "billing", environment="development").model_copy(
        update={"nats_url": nats_url}
    )


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    with serve(fake) as url:
        yield fake, url
