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
    heartbeat_interval_s: float = Field(
        default=10.0, ge=0, le=300, description="how often the instance writes its heartbeat; 0: never"
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
        check_nats_user("QUARRY_NATS", self.nats_user, self.nats_password, self.nats_password_file)
        return self

    def nats_credentials(self) -> tuple[str, str] | None:
        """(user, password) of this service on the bus, when it has its own user."""
        return nats_user_credentials(self.nats_user, self.nats_password, self.nats_password_file)

    def service_dir(self, service: str) -> Path:
        path = self.data_dir / service
        path.mkdir(parents=True, exist_ok=True)
        return path


def check_nats_user(variable: str, user: str | None, password: SecretStr | None, password_file: Path | None) -> None:
    """Refuse a NATS user without a password, a password without a user, two passwords, or a
    password file that is not one; `variable` names the settings in the error (QUARRY_NATS...)."""
    if password is not None and password_file is not None:
        raise ValueError(f"set {variable}_PASSWORD or {variable}_PASSWORD_FILE, not both")
    if (password is not None or password_file is not None) != (user is not None):
        raise ValueError(f"{variable}_USER and a password ({variable}_PASSWORD[_FILE]) go together")
    if password_file is not None and not password_file.is_file():
        raise ValueError(f"{variable}_PASSWORD_FILE {password_file} is not a readable file")


def nats_user_credentials(
    user: str | None, password: SecretStr | None, password_file: Path | None
) -> tuple[str, str] | None:
    """(user, password) of a NATS user checked by `check_nats_user`, the password read from its file
    when it has one; None without a user."""
    if user is None:
        return None
    if password_file is not None:
        return user, password_file.read_text().strip()
    assert password is not None  # check_nats_user saw to it
    return user, password.get_secret_value()
