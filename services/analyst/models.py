"""Which model serves a task: the tenant's own endpoint (set through the gateway), else the
service's default (its environment), else none (offline)."""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from quarry_runtime.errors import NotReady
from quarry_runtime.tenant_models import ModelEndpoint, SecretError, TenantModels, Unavailable
from quarry_runtime.worker import TaskError
from quarry_security.egress import BlockedAddress, Resolver, Unresolvable, resolve_checked, system_resolver
from services.analyst.llm import ChatClient

MakeClient = Callable[[ModelEndpoint], ChatClient]

# How long a task of a tenant already at its limit waits before it is offered to the lane again.
BUSY_RETRY_S = 2.0


@dataclass(frozen=True)
class Chosen:
    client: ChatClient
    tenants_own: bool  # the tenant's endpoint, not the service default


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointPolicy:
    """What tenants' own endpoints may use of one replica, and where they may point."""

    max_clients: int = 256
    per_tenant: int = 2
    # A tenant types its endpoint in: by default it may not point inside our network.
    allow_private: bool = False
    resolver: Resolver = system_resolver


class Models:
    """Chat clients by (base URL, model, key), made on first use.

    At most `max_clients` tenants' clients are kept (least recently used first out; one evicted
    while a task still uses it is closed when that task is done). A tenant runs at most
    `per_tenant` model tasks at once in this process: past that its tasks go back to the queue
    (`NotReady`) instead of holding the lane's workers, so a tenant whose endpoint hangs slows
    only itself.
    """

    def __init__(
        self,
        default: ChatClient | None,
        tenants: TenantModels | None,
        make: MakeClient,
        *,
        policy: EndpointPolicy = EndpointPolicy(),
    ) -> None:
        self.default = default
        self.tenants = tenants
        self._make = make
        self.policy = policy
        self._clients: OrderedDict[ModelEndpoint, ChatClient] = OrderedDict()
        self._leases: Counter[ChatClient] = Counter()
        self._evicted: set[ChatClient] = set()
        self._running: Counter[str] = Counter()
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def use(self, tenant_id: str) -> AsyncIterator[Chosen | None]:
        """The client for one task of `tenant_id` (None: offline), held for the task's duration.

        Raises `NotReady` when the tenant already runs `per_tenant` model tasks here.
        """
        if self._running[tenant_id] >= self.policy.per_tenant:
            raise NotReady(
                f"tenant {tenant_id} already runs {self.policy.per_tenant} model tasks on this replica",
                delay_s=BUSY_RETRY_S,
            )
        self._running[tenant_id] += 1
        chosen: Chosen | None = None
        try:
            chosen = await self.choose(tenant_id)
            yield chosen
        finally:
            self._running[tenant_id] -= 1
            if self._running[tenant_id] <= 0:
                del self._running[tenant_id]
            if chosen is not None and chosen.tenants_own:
                await self._release(chosen.client)

    async def choose(self, tenant_id: str) -> Chosen | None:
        """The client for one task of `tenant_id`; None: offline. A tenant's own client is leased:
        pair with `_release` (as `use` does)."""
        endpoint = await self._tenant_endpoint(tenant_id)
        if endpoint is None:
            return Chosen(self.default, tenants_own=False) if self.default is not None else None
        await self._check_address(endpoint)
        evicted: list[ChatClient] = []
        async with self._lock:
            client = self._clients.get(endpoint)
            if client is None:
                client = self._clients[endpoint] = self._make(endpoint)
            self._clients.move_to_end(endpoint)
            self._leases[client] += 1
            while len(self._clients) > self.policy.max_clients:
                _, old = self._clients.popitem(last=False)
                if self._leases[old] > 0:
                    self._evicted.add(old)  # closed by its last user
                else:
                    evicted.append(old)
        for old in evicted:
            await old.aclose()
        return Chosen(client, tenants_own=True)

    async def _release(self, client: ChatClient) -> None:
        async with self._lock:
            self._leases[client] -= 1
            done = self._leases[client] <= 0
            if done:
                del self._leases[client]
            close = done and client in self._evicted
            if close:
                self._evicted.discard(client)
        if close:
            await client.aclose()

    async def _check_address(self, endpoint: ModelEndpoint) -> None:
        # Early and with a clear reason for the tenant; the client's transport checks again on
        # every request and connects only to the address it checked.
        try:
            await resolve_checked(
                endpoint.base_url, resolver=self.policy.resolver, allow_private=self.policy.allow_private
            )
        except Unresolvable as exc:
            raise TaskError(
                f"the tenant's model endpoint cannot be reached now ({exc})", retryable=True, fault="tenant"
            ) from exc
        except BlockedAddress as exc:
            raise TaskError(
                f"the tenant's model endpoint is not on the public internet ({exc}); "
                "an admin can set another with PUT /v1/tenant/model",
                retryable=False,
                fault="tenant",
            ) from exc

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

    @property
    def cached(self) -> int:
        """How many tenants' clients are kept."""
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client this made and the default."""
        async with self._lock:
            clients = [*self._clients.values(), *self._evicted]
            self._clients, self._evicted = OrderedDict(), set()
        for client in [*clients, *([self.default] if self.default else [])]:
            await client.aclose()
