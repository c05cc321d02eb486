"""Gateway settings, validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator

from quarry_runtime.settings import RuntimeSettings, check_nats_user, nats_user_credentials
from quarry_runtime.tenant_models import DEV_SECRETS_KEY, secrets_key_problem
from services.gateway.web import default_dist

DEV_SECRET = "development-only-jwt-secret-change-me-000"
# Per-address limits when unset: a local test suite signs up hundreds of tenants from 127.0.0.1,
# a production address has no business doing so. (attempts per minute, sign-ups per day)
IP_LIMIT_DEFAULTS = {"production": (20, 10), "test": (2000, 2000), "development": (2000, 2000)}
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", DEV_SECRET}


class GatewaySettings(RuntimeSettings):
    http_host: str = "127.0.0.1"
    # Proxies whose X-Forwarded-For names the client (addresses or CIDRs, comma-separated; "*"
    # any): behind an ingress, its address, else every client looks like the ingress to the
    # per-address limits and the audit log.
    forwarded_allow_ips: str = Field(default="127.0.0.1", max_length=2000)
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
    entitlements_ttl_s: float = Field(
        default=5.0, ge=0, le=300, description="how long billing's answer about a tenant's plan is reused"
    )
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="largest body of other requests")
    max_webhook_body_bytes: int = Field(default=256 * 1024, ge=1024, description="largest Stripe webhook body")
    # Abuse limits of log-in, sign-up, invite acceptance and API keys (counted in a bucket every
    # replica shares). Per address, None takes IP_LIMIT_DEFAULTS for the environment.
    auth_attempts_per_ip_per_minute: int | None = Field(
        default=None, ge=1, le=1_000_000, description="log-in/sign-up/accept attempts and bad API keys per address"
    )
    signups_per_ip_per_day: int | None = Field(default=None, ge=1, le=1_000_000, description="sign-ups per address")
    # Per account, in every environment: wrong passwords lock the account for a while, longer
    # when they go on (a second, daily window).
    login_failures_per_account: int = Field(default=5, ge=1, le=1000, description="wrong passwords per window")
    login_failure_window_s: int = Field(default=900, ge=1, le=86_400)
    login_failures_per_account_per_day: int = Field(default=20, ge=1, le=10_000)
    # argon2id takes 64 MiB a hash: this many at once per replica, a caller waits this long for
    # a turn before a 503.
    password_hash_concurrency: int = Field(default=4, ge=1, le=64)
    password_hash_wait_s: float = Field(default=3.0, gt=0, le=60)

    # The read models' catch-up from the event stream (services.gateway.readmodels.catchup): a pass at least
    # this often, and what would make one due sooner (the store back, a dead letter) checked this often.
    catchup_interval_s: float = Field(default=60.0, gt=0, le=86_400, description="longest time between catch-up passes")
    # The operators' console's consumer lag trend (services.gateway.application.lag_sampler): every
    # durable consumer sampled once per this long, by whichever replica is first.
    lag_sample_interval_s: float = Field(default=30.0, ge=1, le=300, description="how often consumer lag is sampled")
    catchup_check_s: float = Field(default=5.0, gt=0, le=600, description="how often a catch-up pass is considered")

    # The built web application (QUARRY_WEB_DIST), served beside the API (services.gateway.web);
    # unset: the repository's web/dist when it has been built, else no web pages.
    web_dist: Path | None = Field(default=None, description="the web application's built files")

    # The operators' console's own NATS user (`ops`, quarry_security.natsauth): unset, the `/v1/ops/`
    # routes read through the gateway's own connection, which works only on a NATS without users.
    ops_nats_user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ops_nats_password: SecretStr | None = None
    ops_nats_password_file: Path | None = Field(default=None, description="holds the ops user's password")

    def ops_nats_credentials(self) -> tuple[str, str] | None:
        """(user, password) of the operators' console on the bus, when it has its own user."""
        return nats_user_credentials(self.ops_nats_user, self.ops_nats_password, self.ops_nats_password_file)

    def ip_limits(self) -> tuple[int, int]:
        """(auth attempts per address per minute, sign-ups per address per day)."""
        attempts, signups = IP_LIMIT_DEFAULTS[self.environment]
        return self.auth_attempts_per_ip_per_minute or attempts, self.signups_per_ip_per_day or signups

    @model_validator(mode="after")
    def _ops_credentials_are_whole(self) -> GatewaySettings:
        check_nats_user("QUARRY_OPS_NATS", self.ops_nats_user, self.ops_nats_password, self.ops_nats_password_file)
        return self

    @model_validator(mode="after")
    def _web_dist_of_the_repository(self) -> GatewaySettings:
        if self.web_dist is None:
            self.web_dist = default_dist()
        return self

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
