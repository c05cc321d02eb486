"""Settings every service shares: an unset environment is production."""

from __future__ import annotations

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
