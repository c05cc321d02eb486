"""Which model serves a task: the tenant's own endpoint (set through the gateway), else the
service's default (its environment), else none (offline)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from quarry_runtime.egress import non_public
from quarry_runtime.tenant_models import ModelEndpoint, SecretError, TenantModels, Unavailable
from quarry_runtime.worker import TaskError
from services.analyst.llm import ChatClient

MakeClient = Callable[[ModelEndpoint], ChatClient]


@dataclass(frozen=True)
class Chosen:
    client: ChatClient
    tenants_own: bool  # the tenant's endpoint, not the service default


class Models:
    """Chat clients by (base URL, model, key), made on first use and kept until `aclose`."""

    def __init__(
        self,
        default: ChatClient | None,
        tenants: TenantModels | None,
        make: MakeClient,
        *,
        allow_private: bool = False,
    ) -> None:
        self.default = default
        self.tenants = tenants
        self._make = make
        # A tenant types its endpoint in: by default it may not point inside our network.
        self.allow_private = allow_private
        self._clients: dict[ModelEndpoint, ChatClient] = {}
        self._lock = asyncio.Lock()

    async def choose(self, tenant_id: str) -> Chosen | None:
        """The client for one task of `tenant_id`; None: offline."""
        endpoint = await self._tenant_endpoint(tenant_id)
        if endpoint is not None:
            problem = None if self.allow_private else await non_public(endpoint.base_url)
            if problem:
                raise TaskError(
                    f"the tenant's model endpoint is not on the public internet ({problem}); "
                    "an admin can set another with PUT /v1/tenant/model",
                    retryable=False,
                    fault="tenant",
                )
            async with self._lock:
                client = self._clients.get(endpoint)
                if client is None:
                    client = self._clients[endpoint] = self._make(endpoint)
            return Chosen(client, tenants_own=True)
        return Chosen(self.default, tenants_own=False) if self.default is not None else None

    async def _tenant_endpoint(self, tenant_id: str) -> ModelEndpoint | None:
        if self.tenants is None:
            return None
        try:
            return await self.tenants.endpoint(tenant_id)
        except SecretError as exc:
            raise TaskError(
                f"the tenant's model API key cannot be read ({exc}): is QUARRY_SECRETS_KEY the gateway's?",
                retryable=False,
            ) from exc
        except Unavailable as exc:
            raise TaskError(f"the tenant's model setting could not be read: {exc}", retryable=True) from exc

    async def aclose(self) -> None:
        """Close every client this made and the default."""
        async with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in [*clients, *([self.default] if self.default else [])]:
            await client.aclose()
