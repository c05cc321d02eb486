"""Settings shared by every service, read from the environment once at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024
GiB = 1024 * MiB
# What the platform may keep on the bus, per replica. JetStream reserves each limit on its disk,
# so the sum must fit there. A full bucket refuses new writes (an upload, a put) rather than
# letting one tenant fill the disk the event stream needs; a full stream drops its oldest messages.
DEFAULT_STREAM_MAX_BYTES = 4 * GiB
DEFAULT_DEADLETTER_MAX_BYTES = 256 * MiB
DEFAULT_KV_MAX_BYTES = 256 * MiB
DEFAULT_OBJECT_STORE_MAX_BYTES = 4 * GiB


class RuntimeSettings(BaseSettings):
    """Where the bus, the stores and the data directory are. Subclassed by each service."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_", extra="ignore")

    # Unset means production: a deployment that forgets it refuses placeholder secrets instead of
    # running with them; `make up`, `make demo`, the bench and the tests say development.
    environment: str = Field(default="production", pattern="^(development|test|production)$")
    data_dir: Path = Field(default=Path(".data"), description="embedded stores and artifacts")
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=AliasChoices("NATS_URL", "QUARRY_NATS_URL"),
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "QUARRY_DATABASE_URL"),
        description="PostgreSQL URL; SQLite files under data_dir when unset",
    )
    db_schema_prefix: str = Field(
        default="quarry", pattern=r"^[a-z][a-z0-9_]{0,40}$", description="PostgreSQL schema prefix"
    )
    # This service's own NATS user (see quarry_security.natsauth); none: connect as the URL says.
    nats_user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    nats_password: SecretStr | None = None
    nats_password_file: Path | None = Field(default=None, description="holds the password (a mounted Secret)")
    nats_tls_ca_file: Path | None = Field(default=None, description="CA that signed the NATS servers' certificates")
    health_port: int = Field(default=0, ge=0, le=65535, description="0 disables the HTTP probe")
    health_host: str = Field(default="127.0.0.1", description="0.0.0.0 in a pod, so the kubelet can probe")
    health_loop_block_s: float = Field(default=10.0, gt=0, description="event loop lag that fails liveness")
    health_check_grace_s: float = Field(default=60.0, ge=0, description="a dependency down longer fails liveness")
    # Twice a task's default timeout (300 s) at the default ack wait: a slow task is not a wedge.
    health_stall_ack_waits: float = Field(
        default=20.0, ge=2, description="ack waits a consumer may hold messages without an ack before liveness fails"
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="json: one object a line (the default in production); text: for a terminal"
    )
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_deliver: int = Field(default=10, ge=1)
    max_deaths: int = Field(
        default=2,
        ge=1,
        le=100,
        description="deaths a redelivered message may cause before it is dead-lettered (the first delivery is not counted)",
    )
    stream_replicas: int = Field(default=1, ge=1, le=5, description="JetStream replicas; 3 in production")
    stream_max_bytes: int = Field(default=DEFAULT_STREAM_MAX_BYTES, ge=MiB, description="the event stream")
    deadletter_max_bytes: int = Field(default=DEFAULT_DEADLETTER_MAX_BYTES, ge=MiB, description="dead letters")
    kv_max_bytes: int = Field(default=DEFAULT_KV_MAX_BYTES, ge=MiB, description="each key-value bucket")
    object_store_max_bytes: int = Field(
        default=DEFAULT_OBJECT_STORE_MAX_BYTES, ge=MiB, description="each object store (the uploads)"
    )

    @model_validator(mode="after")
    def _nats_credentials_are_whole(self) -> RuntimeSettings:
        if self.nats_password is not None and self.nats_password_file is not None:
            raise ValueError("set QUARRY_NATS_PASSWORD or QUARRY_NATS_PASSWORD_FILE, not both")
        has_password = self.nats_password is not None or self.nats_password_file is not None
        if has_password != (self.nats_user is not None):
            raise ValueError("QUARRY_NATS_USER and a password (QUARRY_NATS_PASSWORD[_FILE]) go together")
        if self.nats_password_file is not None and not self.nats_password_file.is_file():
            raise ValueError(f"QUARRY_NATS_PASSWORD_FILE {self.nats_password_file} is not a readable file")
        return self

    def nats_credentials(self) -> tuple[str, str] | None:
        """(user, password) of this service on the bus, when it has its own user."""
        if self.nats_user is None:
            return None
        if self.nats_password_file is not None:
            return self.nats_user, self.nats_password_file.read_text().strip()
        assert self.nats_password is not None  # the validator saw to it
        return self.nats_user, self.nats_password.get_secret_value()

    def service_dir(self, service: str) -> Path:
        path = self.data_dir / service
        path.mkdir(parents=True, exist_ok=True)
        return path
