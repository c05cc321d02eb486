"""Dependencies shared by the routes: the wired components and the calling principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from quarry_runtime.artifacts import ArtifactStore
from quarry_runtime.bus import Bus
from services.gateway.api.errors import Unauthorized
from services.gateway.monitors import MonitorStore
from services.gateway.projection import RunFeed
from services.gateway.security import InvalidToken, Principal, read_token
from services.gateway.settings import GatewaySettings
from services.gateway.store import GatewayStore


@dataclass
class Components:
    settings: GatewaySettings
    store: GatewayStore
    bus: Bus
    feed: RunFeed
    artifacts: ArtifactStore
    monitors: MonitorStore


async def components(request: Request) -> Components:
    found: Components = request.app.state.components
    return found


ComponentsDep = Annotated[Components, Depends(components)]
_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    parts: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("missing bearer token")
    try:
        return read_token(credentials.credentials, parts.settings.jwt_secret)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
