"""Liveness (`/healthz`) and readiness (`/readyz`) of the gateway."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.api.deps import Components, ComponentsDep

router = APIRouter(tags=["health"])


async def _dependencies(parts: Components) -> dict[str, bool]:
    checks = {"bus": False, "store": False}
    try:
        checks["bus"] = bool(parts.bus.broker.connection.is_connected)
    except Exception:  # noqa: BLE001 - not connected yet is a failed check, not an error
        checks["bus"] = False
    try:
        # Off the loop: a store waiting for a connection must not hold every request up.
        checks["store"] = await asyncio.to_thread(parts.store.db.one, "SELECT 1") is not None
    except Exception:  # noqa: BLE001 - a store fault is a failed check
        checks["store"] = False
    return checks


def _stalled(parts: Components) -> list[str]:
    """The read-model consumers holding messages without an ack for too long (a wedge)."""
    if parts.bus is None:  # an app assembled without a bus (tests of the HTTP side alone)
        return []
    stall_s = parts.settings.ack_wait_s * parts.settings.health_stall_ack_waits
    stalled = parts.bus.progress.stalled(stall_s)
    return [f"consumer {d}: messages waiting without an ack for {w:.0f}s" for d, w in sorted(stalled.items())]


@router.get("/healthz")
async def healthz(parts: ComponentsDep) -> JSONResponse:
    """Liveness: 200 when the bus is connected, the store answers and no consumer is wedged."""
    checks = await _dependencies(parts)
    reasons = [f"{name}: failed" for name, ok in checks.items() if not ok] + _stalled(parts)
    body = {"service": "gateway", "status": "ok" if not reasons else "degraded", "checks": checks, "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)


@router.get("/readyz", include_in_schema=False)
async def readyz(parts: ComponentsDep) -> JSONResponse:
    """Readiness: 200 when the bus is connected and the store answers."""
    checks = await _dependencies(parts)
    reasons = [f"{name}: failed" for name, ok in checks.items() if not ok]
    body = {"service": "gateway", "status": "ok" if not reasons else "degraded", "checks": checks, "reasons": reasons}
    return JSONResponse(body, status_code=200 if not reasons else 503)
