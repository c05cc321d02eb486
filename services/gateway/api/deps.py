"""Dependencies shared by the routes: the wired components, the calling principal and its permissions.

A route declares what it needs with `requires("<permission>")` (see `services.gateway.domain.permissions`),
either on its principal parameter or, when it does not use it, in its decorator:

    who: Annotated[Principal, requires("runs:create")]
    @router.get("", dependencies=[requires("documents:read")])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.blobs import BlobStore
from quarry_runtime.bus import Bus
from quarry_runtime.logs import bind
from quarry_runtime.spans import name_scope
from quarry_runtime.tenant_models import TenantModels
from quarry_security.ratelimit import SlidingWindowLimiter
from services.gateway.adapters.ops_connection import OpsConnection
from services.gateway.api.sessions import csrf_problem, session_token
from services.gateway.application.ops_health import HealthParts
from services.gateway.credentials import Refused
from services.gateway.domain.permissions import is_permission
from services.gateway.entitlements import EntitlementsCache, billing_ask
from services.gateway.errors import Forbidden, Unauthorized
from services.gateway.guard import AuthGuard
from services.gateway.readmodels.catchup import CatchUp
from services.gateway.readmodels.monitors import MonitorStore
from services.gateway.readmodels.projection import Projected, RunFeed
from services.gateway.readmodels.reads import GroupedReads
from services.gateway.readmodels.store import GatewayStore
from services.gateway.readmodels.writer import ProjectionWriter
from services.gateway.security import (
    API_KEY_PREFIX,
    InvalidToken,
    Principal,
    TokenClaims,
    TokenReader,
    api_key_pepper,
    fingerprint,
    hash_api_key,
    parse_api_key,
)
from services.gateway.settings import GatewaySettings


@dataclass
class Components:
    settings: GatewaySettings
    store: GatewayStore
    bus: Bus
    feed: RunFeed
    artifacts: ArtifactStore
    monitors: MonitorStore
    # Uploaded files, passed to the retriever by reference (None: file uploads are unavailable).
    blobs: BlobStore | None = None
    # Tenants' own model endpoints (None: the setting is unavailable).
    models: TenantModels | None = None
    # The tenants' plan entitlements, asked of billing (None: made on first use, over the bus).
    entitlements: EntitlementsCache | None = None
    # Catches the read models up with the event stream (None: an app without a bus, in tests).
    catchup: CatchUp | None = None
    # The events the request path applied to the read models itself (the consumers skip their copy).
    projected: Projected = field(default_factory=Projected)
    # The operators' console's own NATS connection (None: it reads through `bus`).
    ops_bus: OpsConnection | None = None
    # The consumers' lag samples and the services' heartbeats (None: an app without a bus, in tests).
    ops_health: HealthParts | None = None

    def plan(self) -> EntitlementsCache:
        """What the tenants' plans allow, for the checks made before accepting a request."""
        if self.entitlements is None:
            bus = self.bus

            def request(subject: str, data: bytes, timeout: float) -> Awaitable[Any]:
                return bus.broker.connection.request(subject, data, timeout=timeout)

            self.entitlements = EntitlementsCache(billing_ask(request), self.settings.entitlements_ttl_s)
        return self.entitlements

    # Counters of the auth limits; the service passes one every replica shares (this default
    # counts in this process only, for tests that run the app without a bus).
    limiter: SlidingWindowLimiter = field(default_factory=SlidingWindowLimiter)
    guard: AuthGuard = field(init=False)
    tokens: TokenReader = field(init=False)
    # Applies the events the routes publish to the read models, many requests' in one write.
    writes: ProjectionWriter = field(init=False)
    # The reads every request makes: at once when the SQLite store is free, else many requests' in one trip.
    reads: GroupedReads = field(init=False)

    def __post_init__(self) -> None:
        self.guard = AuthGuard(self.settings, self.limiter)
        self.tokens = TokenReader(self.settings.jwt_secret)
        self.writes = ProjectionWriter(self.store, self.monitors, self.projected)
        self.reads = GroupedReads(grouped=not self.store.db.is_postgres, held_if_free=self.store.db.held_if_free)


async def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found


ComponentsDep = Annotated[Components, Depends(components)]
bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def client_address(request: Request) -> str:
    """The client's address, for the limits and the audit log: the TCP peer, or the client a
    trusted proxy names (QUARRY_FORWARDED_ALLOW_IPS, applied by uvicorn's proxy headers)."""
    return request.client.host if request.client else "unknown"


async def authenticate(token: str, parts: Components, address: str) -> Principal:
    """The principal behind an access token or an API key, with the user's roles as they are now.

    Roles are read from the store on every request rather than trusted from the token, so a
    removed or demoted member loses access at once, not when their token expires; a token
    whose holder logged out is refused until it expires.
    """
    accounts = parts.store.accounts
    if token.startswith(API_KEY_PREFIX):
        await parts.guard.api_key_allowed(address)
        try:
            key_id, secret = parse_api_key(token)
            pepper = api_key_pepper(parts.settings.jwt_secret, parts.settings.api_key_pepper)
            return await asyncio.to_thread(
                accounts.authenticate_key, key_id, hash_api_key(pepper, key_id, secret), time.time()
            )
        except (InvalidToken, Refused) as exc:
            await parts.guard.api_key_failed(address)
            raise Unauthorized(str(exc)) from exc
    return (await authenticate_access_token(token, parts))[0]


async def authenticate_access_token(token: str, parts: Components) -> tuple[Principal, TokenClaims]:
    """The principal behind an access token (a JWT, from the header or the session cookie) and
    the token's claims."""
    accounts = parts.store.accounts
    try:
        claims = parts.tokens.read(token)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    claimed = claims.principal
    revoked, who = await parts.reads(accounts.token_holder, claims.token_id, claimed.user_id, claimed.tenant_id)
    if revoked:
        raise Unauthorized("this token was revoked (logged out)")
    if who is None:
        raise Unauthorized("this account is no longer a member of the tenant")
    return who, claims


async def session_principal(connection: HTTPConnection, parts: Components, method: str) -> Principal:
    """The principal of a browser session (the cookie), refusing a request that changes something
    without the session's CSRF token (see `services.gateway.api.sessions`)."""
    token = session_token(connection)
    if token is None:
        raise Unauthorized("missing bearer token or session cookie")
    who, claims = await authenticate_access_token(token, parts)
    problem = csrf_problem(connection, method, parts.settings.jwt_secret, claims.token_id)
    if problem is not None:
        raise Forbidden(problem)
    return who


async def current_principal(request: Request, parts: ComponentsDep, credentials: BearerDep) -> Principal:
    # A program's Authorization header wins over a cookie, and is exempt from the CSRF check:
    # no browser attaches that header on its own.
    if credentials is not None:
        who = await authenticate(credentials.credentials, parts, client_address(request))
    else:
        who = await session_principal(request, parts, request.method)
    bind(who.tenant_id)  # the request's own task: its log lines name the tenant
    name_scope(who.tenant_id)  # and its server span, started before the token was read
    return who


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class AuditTrail:
    """Records one change the caller made to the tenant (see `services.gateway.adapters.audit`)."""

    def __init__(self, parts: Components, who: Principal, source_address: str) -> None:
        self._parts, self._who, self._source = parts, who, source_address

    async def __call__(self, kind: str, target: str | None = None, /, **detail: Any) -> None:
        await asyncio.to_thread(
            self._parts.store.audit.record,
            self._who.tenant_id,
            kind,
            user_id=self._who.user_id,
            key_id=self._who.key_id,
            source_address=self._source,
            target=target,
            detail=detail,
        )


async def audit_trail(request: Request, parts: ComponentsDep, who: CurrentPrincipal) -> AuditTrail:
    # The same principal the route's own check resolved: FastAPI runs a dependency once a request.
    return AuditTrail(parts, who, client_address(request))


AuditDep = Annotated[AuditTrail, Depends(audit_trail)]


def check_permission(who: Principal, permission: str) -> Principal:
    if not who.can(permission):
        via = "this API key" if who.key_id else f"a {who.role or 'user without a role'}"
        raise Forbidden(f"{via} may not do this (needs {permission!r})")
    return who


# Which permission each check enforces, for tests that prove every route declares one.
DECLARED: dict[Callable[..., Any], str] = {}


def requires(permission: str) -> Any:
    """`Depends` on the caller holding `permission` (for a parameter's Annotated or `dependencies=`)."""
    if not is_permission(permission):
        raise ValueError(f"unknown permission {permission!r}")

    # A function, not a callable object: FastAPI resolves the postponed annotations of a
    # dependency through its __globals__, which only functions have.
    async def check(who: CurrentPrincipal) -> Principal:
        return check_permission(who, permission)

    check.__qualname__ = f"requires({permission!r})"
    DECLARED[check] = permission
    return Depends(check)


# The caller of a route that needs one permission, named for what the permission lets it do.
AuditReader = Annotated[Principal, requires("audit:read")]
BillingReader = Annotated[Principal, requires("billing:read")]
BillingBuyer = Annotated[Principal, requires("billing:write")]
DatasetReader = Annotated[Principal, requires("datasets:read")]
DatasetWriter = Annotated[Principal, requires("datasets:write")]
KeyReader = Annotated[Principal, requires("keys:read")]
KeyManager = Annotated[Principal, requires("keys:write")]
MemberReader = Annotated[Principal, requires("members:read")]
MemberManager = Annotated[Principal, requires("members:write")]
PolicyReader = Annotated[Principal, requires("policy:read")]
PolicyPublisher = Annotated[Principal, requires("policy:publish")]
RunAsker = Annotated[Principal, requires("runs:ask")]
RunReader = Annotated[Principal, requires("runs:read")]
RunSharer = Annotated[Principal, requires("runs:share")]

STREAM_PERMISSION = "runs:read"


async def stream_principal(
    request: Request,
    run_id: str,
    parts: ComponentsDep,
    credentials: BearerDep,
    ticket: Annotated[str | None, Query(description="a stream ticket, for clients that cannot send headers")] = None,
) -> Principal:
    """The SSE stream's caller. An EventSource cannot send headers, so it shows a single-use
    stream ticket (`?ticket=`, from POST /v1/runs/{run_id}/events/ticket) bound to this run;
    other clients may send the Authorization header as anywhere else. A long-lived token in
    the URL is never accepted: URLs end up in logs and browser history."""
    if ticket is not None:
        who = await asyncio.to_thread(
            parts.store.accounts.consume_stream_ticket, fingerprint(ticket), run_id, time.time()
        )
        if who is None:
            raise Unauthorized("the stream ticket is unknown, used, expired or for another run")
    elif credentials is not None:
        who = await authenticate(credentials.credentials, parts, client_address(request))
    elif session_token(request) is not None:
        who = await session_principal(request, parts, request.method)
    else:
        raise Unauthorized("missing bearer token, session cookie or stream ticket")
    return check_permission(who, STREAM_PERMISSION)


DECLARED[stream_principal] = STREAM_PERMISSION
StreamReader = Annotated[Principal, Depends(stream_principal)]
