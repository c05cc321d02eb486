"""Liveness and readiness of the gateway."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.api.deps import ComponentsDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(parts: ComponentsDep) -> JSONResponse:
    """200 when the bus is connected and the store answers, 503 otherwise."""
    checks = {"bus": False, "store": False}
    try:
        checks["bus"] = bool(parts.bus.broker.connection.is_connected)
    except Exception:  # noqa: BLE001 - not connected yet is a failed check, not an error
        checks["bus"] = False
    try:
        checks["store"] = parts.store.db.one("SELECT 1") is not None
    except Exception:  # noqa: BLE001 - a store fault is a failed check
        checks["store"] = False
    healthy = all(checks.values())
    body = {"service": "gateway", "status": "ok" if healthy else "degraded", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)
