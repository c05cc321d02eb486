"""What the local stack hands its services: the caller's settings, under the stack's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import cli
from devtools.stack import Stack, StackConfig
from quarry_security import natsauth


def test_the_callers_settings_reach_every_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUARRY_ANALYST_MODE", "live")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("QUARRY_DATA_DIR", "/somewhere/else")
    monkeypatch.setenv("QUARRY_HEALTH_PORT", "1")
    stack = Stack(StackConfig(data_dir=tmp_path, nats_url="nats://127.0.0.1:4999"))
    env = stack._env("analyst", 4567)
    assert env["QUARRY_ANALYST_MODE"] == "live"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4317"
    # Where the stack keeps its data and which ports it hands out are its own to decide.
    assert env["QUARRY_DATA_DIR"] == str(tmp_path.resolve())
    assert env["QUARRY_HEALTH_PORT"] == "4567"
    assert env["NATS_URL"] == "nats://127.0.0.1:4999"


def test_the_stack_says_development_unless_told_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUARRY_ENVIRONMENT", raising=False)
    assert Stack(StackConfig(data_dir=tmp_path))._env("gateway", 1)["QUARRY_ENVIRONMENT"] == "development"
    monkeypatch.setenv("QUARRY_ENVIRONMENT", "production")
    assert Stack(StackConfig(data_dir=tmp_path))._env("gateway", 1)["QUARRY_ENVIRONMENT"] == "production"


def test_a_dot_env_file_is_read_and_the_callers_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUARRY_ENVIRONMENT", raising=False)
    monkeypatch.delenv("QUARRY_LLM_MODEL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("QUARRY_ANALYST_MODE", "offline")
    (tmp_path / ".env").write_text(
        "QUARRY_ENVIRONMENT=production\nQUARRY_LLM_MODEL=from-dotenv\nQUARRY_ANALYST_MODE=live\n"
        "DATABASE_URL=postgresql://db.example/quarry\nNATS_URL=nats://bus.example:4222\n"
    )
    monkeypatch.chdir(tmp_path)
    config = cli._config(tmp_path / "data", 8123)
    assert config.database_url == "postgresql://db.example/quarry"
    assert config.nats_url == "nats://bus.example:4222"
    env = Stack(config)._env("analyst", 1)
    assert env["QUARRY_ENVIRONMENT"] == "production"
    assert env["QUARRY_LLM_MODEL"] == "from-dotenv"
    assert env["QUARRY_ANALYST_MODE"] == "offline"
    assert env["DATABASE_URL"] == "postgresql://db.example/quarry"


def with_its_own_nats(data_dir: Path) -> tuple[Stack, natsauth.StackCredentials]:
    """A stack that starts its own nats-server, and the credentials of each service's NATS user it
    keeps under `data_dir`."""
    stack = Stack(StackConfig(data_dir=data_dir))
    stack._credentials = natsauth.StackCredentials(data_dir / "nats" / "credentials")
    return stack, stack._credentials


def test_with_its_own_nats_each_service_gets_only_its_own_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUARRY_NATS_PASSWORD", "the-callers-password")
    stack, credentials = with_its_own_nats(tmp_path)
    config = stack._server_config()
    assert config.stat().st_mode & 0o777 == 0o600
    passwords = credentials.ensure()
    for service in natsauth.SERVICES:
        env = stack._env(service, 1)
        assert env["QUARRY_NATS_USER"] == service
        path = Path(env["QUARRY_NATS_PASSWORD_FILE"])
        assert path.read_text() == passwords[service] and path.stat().st_mode & 0o777 == 0o600
        assert "QUARRY_NATS_PASSWORD" not in env
        assert not any(pw in env.values() for pw in passwords.values())
    assert (tmp_path / "nats" / "credentials").stat().st_mode & 0o777 == 0o700


def test_only_the_gateway_gets_the_operators_console_user_beside_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUARRY_OPS_NATS_PASSWORD", "the-callers-password")
    stack, credentials = with_its_own_nats(tmp_path)
    assert '"user": "ops"' in stack._server_config().read_text()
    passwords = credentials.ensure()
    gateway = stack._env("gateway", 1)
    assert gateway["QUARRY_OPS_NATS_USER"] == natsauth.OPS
    assert Path(gateway["QUARRY_OPS_NATS_PASSWORD_FILE"]).read_text() == passwords[natsauth.OPS]
    assert "QUARRY_OPS_NATS_PASSWORD" not in gateway
    for service in set(natsauth.SERVICES) - {"gateway"}:
        env = stack._env(service, 1)
        assert not any(key.startswith("QUARRY_OPS_") for key in env)
