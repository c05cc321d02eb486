"""Who may use the operators' routes (`/v1/ops/`), and the audit entry each use leaves.

Every ops route takes `OPERATOR` as its router's dependency, so a route added there later is
checked and audited without a line of its own: the caller must hold `ops:read` (a platform
role, never a tenant's, never an API key's), and the use is written to the platform's audit log
before anything is read, so a read that then fails is on record too.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from contracts import subjects
from services.gateway.adapters.jetstream_messages import JetStreamMessages
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.adapters.platform_audit import PlatformActor
from services.gateway.api.deps import Components, ComponentsDep, client_address, requires
from services.gateway.security import Principal

# The streams whose messages the operators' NATS user may get (quarry_security.natsauth.OPS_READS).
READABLE_STREAMS: Final = frozenset({subjects.STREAM, subjects.DEADLETTER_STREAM})


async def _record_use(request: Request, parts: Components, who: Principal, kind: str) -> None:
    route = request.scope.get("route")
    template = route.path if isinstance(route, APIRoute) else request.url.path
    actor = PlatformActor(name=who.email, source_address=client_address(request), user_id=who.user_id)
    await asyncio.to_thread(
        parts.store.platform_audit.record,
        kind,
        actor,
        f"{request.method} {template}",
        tenant_id=who.tenant_id,
        query=str(request.query_params),
    )


def audited(permission: str, kind: str) -> Any:
    """A router's dependency: the caller holds `permission`, and their use of the route is on
    record (as `kind`) before anything is read or changed."""

    # The permission's dependency as a default: an annotation naming it would be postponed
    # (a string) and FastAPI resolves those through the module's globals, where it is not.
    async def check(request: Request, parts: ComponentsDep, who: Principal = requires(permission)) -> Principal:
        await _record_use(request, parts, who, kind)
        return who

    return Depends(check)


OPERATOR = audited("ops:read", "ops.read")
# The routes that change something (redrive, discard): their own router's dependency; the
# outcome of each change is recorded by the route (`record_action`).
REDRIVER = audited("ops:redrive", "ops.change")
# The platform's audit log (platform admins only).
AUDITOR = audited("ops:audit", "ops.read")
# Replays of the event log into fresh read models (platform admins only).
REPLAYER = audited("ops:replay", "ops.read")
# Registering agent versions (platform admins only).
REGISTRAR = audited("agents:register", "ops.change")
# Starting and steering rollouts of agent versions (platform admins only).
ROLLOUT_MANAGER = audited("rollouts:manage", "ops.change")


async def bus_state(parts: ComponentsDep) -> JetStreamState:
    """JetStream as the operators' own NATS user sees it, or through the gateway's connection on
    a NATS without users (then it may read anything anyway)."""
    client = await parts.ops_bus.client() if parts.ops_bus is not None else parts.bus.broker.connection
    return JetStreamState(client, READABLE_STREAMS)


BusStateDep = Annotated[JetStreamState, Depends(bus_state)]


async def bus_messages(parts: ComponentsDep) -> JetStreamMessages:
    """Messages of the event and dead-letter streams, read (and redriven) as `bus_state` reads."""
    client = await parts.ops_bus.client() if parts.ops_bus is not None else parts.bus.broker.connection
    return JetStreamMessages(client)


BusMessagesDep = Annotated[JetStreamMessages, Depends(bus_messages)]
# The operators who may redrive and discard dead letters (platform admins), as `REDRIVER` let them in.
Redriver = Annotated[Principal, REDRIVER]
Registrar = Annotated[Principal, REGISTRAR]
RolloutManager = Annotated[Principal, ROLLOUT_MANAGER]


async def record_action(request: Request, parts: Components, who: Principal, kind: str, **detail: object) -> None:
    """An operator's change (a redrive, a discard) in the platform's audit log, beside the read."""
    actor = PlatformActor(name=who.email, source_address=client_address(request), user_id=who.user_id)
    await asyncio.to_thread(
        parts.store.platform_audit.record, kind, actor, f"{request.method} {request.url.path}", **detail
    )
