"""Gateway settings, validated at start-up."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator

from quarry_runtime.settings import RuntimeSettings

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-secret-change-me"}


class GatewaySettings(RuntimeSettings):
    environment: str = Field(default="development", pattern="^(development|test|production)$")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, validation_alias=AliasChoices("QUARRY_HTTP_PORT", "http_port"))
    jwt_secret: str = Field(default="dev-secret-change-me", min_length=8)
    access_token_ttl_s: int = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> GatewaySettings:
        if self.environment == "production" and self.jwt_secret in PLACEHOLDER_SECRETS:
            raise ValueError("QUARRY_JWT_SECRET must be set to a real secret in production")
        return self
