"""Composition root of the analyst."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, Self

import httpx
from pydantic import AliasChoices, Field, SecretStr, model_validator

from quarry_runtime.bus import Bus
from quarry_runtime.service import Service
from quarry_runtime.settings import MiB, RuntimeSettings
from quarry_runtime.tenant_models import DEV_SECRETS_KEY, ModelEndpoint, TenantModels, secrets_key_problem
from quarry_security.egress import GuardedTransport
from services.analyst.handlers import subscriptions
from services.analyst.llm import ChatClient
from services.analyst.meters import ModelMeter
from services.analyst.models import EndpointPolicy, Models

NAME = "analyst"


class AnalystSettings(RuntimeSettings):
    """Offline (rule-based planning, extractive synthesis) needs nothing; live mode needs a model server."""

    mode: Literal["offline", "live"] = Field(
        default="offline",
        validation_alias=AliasChoices("QUARRY_ANALYST_MODE"),
        description="live: plan with the chat-completions model below",
    )
    # The rest are read as QUARRY_<FIELD NAME> (the settings' prefix), e.g. QUARRY_LLM_BASE_URL.
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible API root, e.g. http://127.0.0.1:8080/v1"
    )
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    # Model names the metrics name (besides llm_model): a tenant's model named elsewhere counts as `other`.
    analyst_metric_models: list[str] = Field(default_factory=list, max_length=50)
    llm_timeout_s: float = Field(default=60.0, gt=0)
    llm_deadline_s: float = Field(
        default=180.0, gt=0, le=3600, description="the whole of one model call, retries included"
    )
    llm_max_response_bytes: int = Field(
        default=4 * MiB,
        ge=1024,
        le=256 * MiB,
        description="a model's answer larger than this (decoded) is refused while it is read",
    )
    workers: int = Field(
        default=8,
        ge=1,
        le=256,
        validation_alias=AliasChoices("QUARRY_ANALYST_WORKERS"),
        description="analyst tasks run at once by one replica",
    )
    tenant_model_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="model tasks of one tenant run at once by one replica; more wait in the queue",
    )
    tenant_model_clients: int = Field(
        default=256, ge=1, le=100_000, description="tenants' model clients kept open (least recently used closed first)"
    )
    secrets_key: SecretStr = Field(
        default=SecretStr(DEV_SECRETS_KEY),
        description="opens the tenants' model API keys the gateway sealed (the gateway's value)",
    )
    tenant_model_ttl_s: float = Field(default=30.0, gt=0, description="cache of the setting")
    tenant_model_allow_private: bool = Field(
        default=False, description="let tenants' own model endpoints be loopback/private addresses (tests, on-premises)"
    )

    @model_validator(mode="before")
    @classmethod
    def _keywords_by_field_name(cls, data: Any) -> Any:
        # `validate_by_name` would let `AnalystSettings(mode="live")` work, but it also makes the
        # environment source read QUARRY_MODE & co.; only the explicit names should configure this.
        if isinstance(data, dict):
            data = dict(data)
            for name, info in cls.model_fields.items():
                if name in data and isinstance(info.validation_alias, AliasChoices):
                    data[str(info.validation_alias.choices[0])] = data.pop(name)
        return data

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> Self:
        problem = secrets_key_problem(self.environment, self.secrets_key.get_secret_value())
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _live_needs_a_model(self) -> Self:
        if self.mode != "live":
            return self
        if not self.llm_base_url or not self.llm_base_url.strip():
            raise ValueError("QUARRY_ANALYST_MODE=live needs QUARRY_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1)")
        if not self.llm_base_url.startswith(("http://", "https://")):
            raise ValueError(f"QUARRY_LLM_BASE_URL must be an http(s) URL, got {self.llm_base_url!r}")
        if not self.llm_model.strip():
            raise ValueError("QUARRY_ANALYST_MODE=live needs QUARRY_LLM_MODEL")
        return self


def chat_client(settings: AnalystSettings) -> ChatClient | None:
    """The model client of live mode; None offline."""
    if settings.mode != "live" or settings.llm_base_url is None:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return client_for(settings, ModelEndpoint(settings.llm_base_url, settings.llm_model, key))


def client_for(
    settings: AnalystSettings, endpoint: ModelEndpoint, transport: httpx.AsyncBaseTransport | None = None
) -> ChatClient:
    """A client of `endpoint` with the service's timeouts and cap on an answer's size."""
    return ChatClient(
        endpoint.base_url,
        model=endpoint.model,
        api_key=endpoint.api_key,
        timeout_s=settings.llm_timeout_s,
        deadline_s=settings.llm_deadline_s,
        max_response_bytes=settings.llm_max_response_bytes,
        transport=transport,
        meter=ModelMeter([settings.llm_model, *settings.analyst_metric_models]),
    )


def models(settings: AnalystSettings, bus: Bus) -> Models:
    """The service default (live mode) and the tenants' own endpoints, read from their bucket."""
    tenants = TenantModels(
        lambda: bus.broker.connection.jetstream(),
        settings.secrets_key.get_secret_value(),
        replicas=settings.stream_replicas,
        max_bytes=settings.kv_max_bytes,
        ttl_s=settings.tenant_model_ttl_s,
    )

    def make(endpoint: ModelEndpoint) -> ChatClient:
        # Every request resolves the name once, checks the answer and connects to that very
        # address, so a name re-pointed inward after `Models.choose` (DNS rebinding) reaches nothing.
        return client_for(settings, endpoint, GuardedTransport(allow_private=settings.tenant_model_allow_private))

    policy = EndpointPolicy(
        allow_private=settings.tenant_model_allow_private,
        max_clients=settings.tenant_model_clients,
        per_tenant=settings.tenant_model_concurrency,
    )
    return Models(chat_client(settings), tenants, make, policy=policy)


def closes_on_stop(llm: ChatClient | Models) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job that owns the clients and closes them when the service stops.

    `Service.on_stop` takes sync callables and httpx closes asynchronously. Background jobs are
    cancelled at shutdown inside the running loop, so this job's `finally` can await the close.
    That happens just before the bus stops: a plan still in flight then fails and its task is
    redelivered, which an at-least-once lane has to survive anyway.
    """

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await llm.aclose()

    return hold


def build(settings: RuntimeSettings) -> Service:
    s = settings if isinstance(settings, AnalystSettings) else AnalystSettings()
    bus = Bus.from_settings(settings, NAME)
    chosen = models(s, bus)
    for sub in subscriptions(bus, chosen, workers=s.workers, environment=s.environment):
        bus.subscribe(sub)
    watch = chosen.tenants.watch if chosen.tenants else None
    return Service(NAME, bus, background=[closes_on_stop(chosen), *([watch] if watch else [])])
