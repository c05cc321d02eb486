"""Gateway settings, validated at start-up."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.tenant_models import DEV_SECRETS_KEY, secrets_key_problem

DEV_SECRET = "development-only-jwt-secret-change-me-000"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", DEV_SECRET}


class GatewaySettings(RuntimeSettings):
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, validation_alias=AliasChoices("QUARRY_HTTP_PORT", "http_port"))
    # HS256 wants a key of at least 32 bytes (RFC 7518 §3.2); pyjwt warns on every use otherwise.
    jwt_secret: str = Field(default=DEV_SECRET, min_length=32)
    access_token_ttl_s: int = Field(default=3600, gt=0)
    monitor_min_interval_s: int = Field(default=300, ge=1, description="shortest interval a monitor may use")
    # Seals tenants' model API keys (AES-GCM); the analyst needs the same value to open them.
    secrets_key: str = Field(default=DEV_SECRETS_KEY, min_length=32)
    # Keys the HMAC of stored API keys; unset, it is derived from jwt_secret (see security.api_key_pepper).
    api_key_pepper: str | None = Field(default=None, min_length=32)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, description="largest file a dataset accepts")

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> GatewaySettings:
        if self.environment == "production" and self.jwt_secret in PLACEHOLDER_SECRETS:
            raise ValueError("QUARRY_JWT_SECRET must be set to a real secret in production")
        if self.environment == "production" and self.api_key_pepper in PLACEHOLDER_SECRETS:
            raise ValueError("QUARRY_API_KEY_PEPPER, when set, must be a real secret in production")
        problem = secrets_key_problem(self.environment, self.secrets_key)
        if problem:
            raise ValueError(problem)
        return self
