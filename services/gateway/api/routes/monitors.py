"""Monitors: recurring research on a cron or interval schedule; each firing is an ordinary run."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from services.gateway.api.deps import ComponentsDep, CurrentPrincipal, requires
from services.gateway.api.models.monitors import MonitorChangePublic, MonitorCreate, MonitorListPublic, MonitorPublic
from services.gateway.application import monitors

router = APIRouter(prefix="/v1/monitors", tags=["monitors"])


@router.post("", status_code=202, dependencies=[requires("monitors:write")])
async def create_monitor(body: MonitorCreate, who: CurrentPrincipal, parts: ComponentsDep) -> MonitorChangePublic:
    """Schedule a recurring research question for the caller's tenant."""
    return MonitorChangePublic.model_validate(await monitors.create_monitor(parts, who, body))


@router.get("", dependencies=[requires("monitors:read")], response_model_exclude_unset=True)
async def list_monitors(who: CurrentPrincipal, parts: ComponentsDep) -> MonitorListPublic:
    """The tenant's monitors with their schedule, status, next slot and the runs they started."""
    found = await asyncio.to_thread(parts.monitors.list, who.tenant_id)
    return MonitorListPublic.model_validate({"monitors": found})


@router.get("/{monitor_id}", dependencies=[requires("monitors:read")], response_model_exclude_unset=True)
async def get_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> MonitorPublic:
    """One of the tenant's monitors."""
    return MonitorPublic.model_validate(await monitors.found_monitor(parts, who.tenant_id, monitor_id))


@router.post("/{monitor_id}/pause", status_code=202, dependencies=[requires("monitors:write")])
async def pause_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> MonitorChangePublic:
    """Stop firing until resumed."""
    return MonitorChangePublic.model_validate(await monitors.change_monitor(parts, who, monitor_id, "paused", "active"))


@router.post("/{monitor_id}/resume", status_code=202, dependencies=[requires("monitors:write")])
async def resume_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> MonitorChangePublic:
    """Fire again from the next slot."""
    return MonitorChangePublic.model_validate(
        await monitors.change_monitor(parts, who, monitor_id, "resumed", "paused")
    )


@router.delete("/{monitor_id}", status_code=202, dependencies=[requires("monitors:write")])
async def delete_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> MonitorChangePublic:
    """Stop the monitor for good; the runs it started stay."""
    return MonitorChangePublic.model_validate(await monitors.change_monitor(parts, who, monitor_id, "deleted", None))
