"""The one place the gateway's errors (`services.gateway.errors`) become HTTP responses."""

from __future__ import annotations

import math

import nats.errors
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from quarry_runtime.busfaults import is_bus_outage
from quarry_runtime.errors import Unavailable as DependencyUnavailable
from services.gateway.errors import GatewayError, Unauthorized

# What a client is told to wait when a dependency (the database) is away: the stores find a
# server that is back within a couple of seconds.
DEPENDENCY_RETRY_AFTER_S = 2


def install(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else {}
        retry_after_s = exc.retry_after_s
        if retry_after_s is None and exc.status_code == 503:
            retry_after_s = DEPENDENCY_RETRY_AFTER_S  # every 503 says when to come back
        if retry_after_s is not None:
            headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def dependency_away(_: Request, exc: Exception) -> JSONResponse:
        # The request is not at fault: the client may send it again (a write lost in its COMMIT
        # may have been applied, which the routes' own checks then answer, e.g. a 409).
        headers = {"Retry-After": str(DEPENDENCY_RETRY_AFTER_S)}
        return JSONResponse({"detail": "temporarily unavailable, try again"}, status_code=503, headers=headers)

    async def bus_away(request: Request, exc: Exception) -> JSONResponse:
        # A NATS call a route made without saying what its failure means: the bus being away
        # (disconnected, no answer, JetStream's store full) is a 503 like any dependency's.
        if not is_bus_outage(exc):
            raise exc
        return await dependency_away(request, exc)

    app.add_exception_handler(GatewayError, handle)
    app.add_exception_handler(DependencyUnavailable, dependency_away)
    app.add_exception_handler(nats.errors.Error, bus_away)
