"""Who may use the operators' routes (`/v1/ops/`), and the audit entry each use leaves.

Every ops route takes `OPERATOR` as its router's dependency, so a route added there later is
checked and audited without a line of its own: the caller must hold `ops:read` (a platform
role, never a tenant's, never an API key's), and the use is written to the platform's audit log
before anything is read, so a read that then fails is on record too.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Final

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


async def audited_operator(
    request: Request, parts: ComponentsDep, who: Annotated[Principal, requires("ops:read")]
) -> Principal:
    """The operator calling, once their use of the route is on record."""
    await _record_use(request, parts, who, "ops.read")
    return who


async def audited_redriver(
    request: Request, parts: ComponentsDep, who: Annotated[Principal, requires("ops:redrive")]
) -> Principal:
    """The platform admin changing dead letters, once the attempt is on record (its outcome is
    recorded by the route, `record_action`)."""
    await _record_use(request, parts, who, "ops.change")
    return who


async def audited_registrar(
    request: Request, parts: ComponentsDep, who: Annotated[Principal, requires("agents:register")]
) -> Principal:
    """The platform admin registering an agent version, once the attempt is on record (its
    outcome is recorded by the route, `record_action`)."""
    await _record_use(request, parts, who, "ops.change")
    return who


OPERATOR = Depends(audited_operator)
# The routes that change something (redrive, discard): their own router's dependency.
REDRIVER = Depends(audited_redriver)
REGISTRAR = Depends(audited_registrar)


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


async def record_action(request: Request, parts: Components, who: Principal, kind: str, **detail: object) -> None:
    """An operator's change (a redrive, a discard) in the platform's audit log, beside the read."""
    actor = PlatformActor(name=who.email, source_address=client_address(request), user_id=who.user_id)
    await asyncio.to_thread(
        parts.store.platform_audit.record, kind, actor, f"{request.method} {request.url.path}", **detail
    )
