"""Settings every service shares: an unset environment is production; the bus credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from quarry_runtime.settings import RuntimeSettings
from services.analyst.bootstrap import AnalystSettings
from services.gateway.settings import GatewaySettings


def test_an_unset_environment_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUARRY_ENVIRONMENT", raising=False)
    monkeypatch.delenv("QUARRY_JWT_SECRET", raising=False)
    monkeypatch.delenv("QUARRY_SECRETS_KEY", raising=False)
    assert RuntimeSettings().environment == "production"
    with pytest.raises(ValidationError, match="QUARRY_JWT_SECRET"):
        GatewaySettings()
    with pytest.raises(ValidationError, match="QUARRY_SECRETS_KEY"):
        AnalystSettings()


def test_development_must_be_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "development")
    assert GatewaySettings().environment == "development"
    assert AnalystSettings().environment == "development"
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "staging")
    with pytest.raises(ValidationError, match="environment"):
        RuntimeSettings()


def test_a_services_nats_credentials_come_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QUARRY_NATS_USER", "QUARRY_NATS_PASSWORD", "QUARRY_NATS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    # None at all: connect as the URL says (an external NATS without auth keeps working).
    assert RuntimeSettings().nats_credentials() is None
    with pytest.raises(ValidationError, match="go together"):
        RuntimeSettings(nats_user="billing")
    with pytest.raises(ValidationError, match="go together"):
        RuntimeSettings(nats_password="secret")
    with pytest.raises(ValidationError, match="not a readable file"):
        RuntimeSettings(nats_user="billing", nats_password_file=tmp_path / "missing")
    (tmp_path / "billing.password").write_text("s3cret\n")
    monkeypatch.setenv("QUARRY_NATS_USER", "billing")
    monkeypatch.setenv("QUARRY_NATS_PASSWORD_FILE", str(tmp_path / "billing.password"))
    assert RuntimeSettings().nats_credentials() == ("billing", "s3cret")
    monkeypatch.setenv("QUARRY_NATS_PASSWORD", "other")
    with pytest.raises(ValidationError, match="not both"):
        RuntimeSettings()
