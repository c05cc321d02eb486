"""Monitors: recurring research on a cron or interval schedule; each firing is an ordinary run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from contracts.billing import EntitlementsQuery
from contracts.envelope import Actor
from contracts.ids import new_id
from contracts.monitor import (
    MonitorChanged,
    MonitorChangedPayload,
    MonitorCreated,
    MonitorCreatedPayload,
    MonitorTemplate,
    Schedule,
)
from services.gateway.api.bounds import MAX_INTERVAL_S, Question
from services.gateway.api.commands import publish
from services.gateway.api.deps import Components, ComponentsDep, CurrentPrincipal, requires
from services.gateway.application.templates import template_for_request
from services.gateway.cron import NeverFires, is_valid_cron, shortest_gap_s
from services.gateway.entitlements import monitor_problem
from services.gateway.errors import BadRequest, Conflict, NotFound, Unprocessable
from services.gateway.templates import resolve

router = APIRouter(prefix="/v1/monitors", tags=["monitors"])


class MonitorCreate(BaseModel):
    question: Question
    cron: str | None = Field(default=None, description="five-field cron expression, UTC", max_length=120)
    interval_s: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_S, description="or a fixed interval in seconds")
    depth: int = Field(default=1, ge=1, le=3)
    max_sources: int = Field(default=8, ge=1, le=50)
    template_id: str | None = Field(
        default=None,
        max_length=64,
        description="a research template of the tenant: every run the monitor fires uses it",
    )

    @model_validator(mode="after")
    def _one_schedule(self) -> MonitorCreate:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron or interval_s")
        return self


@router.post("", status_code=202, dependencies=[requires("monitors:write")])
async def create_monitor(body: MonitorCreate, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """Schedule a recurring research question for the caller's tenant."""
    minimum = parts.settings.monitor_min_interval_s
    if body.cron is not None:
        if not is_valid_cron(body.cron):
            raise BadRequest(f"not a five-field cron expression: {body.cron!r}")
        try:
            gap = shortest_gap_s(body.cron, datetime.now(UTC), below_s=minimum)
        except NeverFires as exc:
            raise Unprocessable(str(exc)) from exc
        except ValueError as exc:
            raise BadRequest(f"not a cron expression the scheduler can read: {body.cron!r}") from exc
        if gap is not None:
            raise BadRequest(f"the cron expression fires {gap} seconds apart; monitors fire at least {minimum} s apart")
    if body.interval_s is not None and body.interval_s < minimum:
        raise BadRequest(f"interval_s must be at least {minimum} seconds")
    template = await template_for_request(parts, who.tenant_id, body.template_id)
    # A monitor asks for no sources or length of its own: the template's, else the runs' defaults.
    run_defaults = {"sources": None, "length": "standard", "target_words": None}
    chosen = resolve(template, run_defaults | body.model_dump(), body.model_fields_set)
    have = len(await asyncio.to_thread(parts.monitors.list, who.tenant_id))
    problem = monitor_problem(have, chosen["depth"], chosen["max_sources"], chosen["sources"])
    await parts.plan().check(EntitlementsQuery(tenant_id=who.tenant_id), problem)
    monitor_id = new_id()
    payload = MonitorCreatedPayload(
        monitor_id=monitor_id,
        question=body.question.strip(),
        depth=chosen["depth"],
        max_sources=chosen["max_sources"],
        schedule=Schedule(cron=body.cron, interval_s=body.interval_s),
        template=MonitorTemplate(
            template_id=chosen["template_id"],
            version=chosen["template_version"],
            name=chosen["template_name"],
            sources=chosen["sources"],
            length=chosen["length"],
            target_words=chosen["target_words"],
            outline=chosen["outline"],
            tone=chosen["tone"],
        )
        if template is not None
        else None,
    )
    event = MonitorCreated.create(
        payload, tenant_id=who.tenant_id, actor=Actor(user_id=who.user_id, roles=list(who.roles))
    )
    await publish(parts, event)
    return {"monitor_id": monitor_id, "status": "active"}


@router.get("", dependencies=[requires("monitors:read")])
async def list_monitors(who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    """The tenant's monitors with their schedule, status, next slot and the runs they started."""
    return {"monitors": await asyncio.to_thread(parts.monitors.list, who.tenant_id)}


@router.get("/{monitor_id}", dependencies=[requires("monitors:read")])
async def get_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, Any]:
    monitor = await asyncio.to_thread(parts.monitors.get, who.tenant_id, monitor_id)
    if monitor is None or monitor["status"] == "deleted":
        raise NotFound("monitor not found")
    return monitor


@router.post("/{monitor_id}/pause", status_code=202, dependencies=[requires("monitors:write")])
async def pause_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, str]:
    return await _change(monitor_id, "paused", "active", who, parts)


@router.post("/{monitor_id}/resume", status_code=202, dependencies=[requires("monitors:write")])
async def resume_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, str]:
    return await _change(monitor_id, "resumed", "paused", who, parts)


@router.delete("/{monitor_id}", status_code=202, dependencies=[requires("monitors:write")])
async def delete_monitor(monitor_id: str, who: CurrentPrincipal, parts: ComponentsDep) -> dict[str, str]:
    return await _change(monitor_id, "deleted", None, who, parts)


async def _change(
    monitor_id: str,
    change: Literal["paused", "resumed", "deleted"],
    required: str | None,
    who: CurrentPrincipal,
    parts: Components,
) -> dict[str, str]:
    monitor = await asyncio.to_thread(parts.monitors.get, who.tenant_id, monitor_id)
    if monitor is None or monitor["status"] == "deleted":
        raise NotFound("monitor not found")
    if required is not None and monitor["status"] != required:
        raise Conflict(f"the monitor is {monitor['status']}")
    event = MonitorChanged.create(
        MonitorChangedPayload(monitor_id=monitor_id, change=change),
        tenant_id=who.tenant_id,
        actor=Actor(user_id=who.user_id, roles=list(who.roles)),
    )
    await publish(parts, event)
    return {"monitor_id": monitor_id, "status": f"{change} requested"}
