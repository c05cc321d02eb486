"""Monitors: schedule a recurring question, pause, resume or delete it, read them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from contracts.billing import EntitlementsQuery
from contracts.ids import new_id
from contracts.monitor import (
    MonitorChanged,
    MonitorChangedPayload,
    MonitorCreated,
    MonitorCreatedPayload,
    MonitorTemplate,
    Schedule,
)
from services.gateway.api.commands import publish
from services.gateway.api.models.monitors import MonitorCreate
from services.gateway.application.templates import template_for_request
from services.gateway.domain.cron import NeverFires, is_valid_cron, shortest_gap_s
from services.gateway.entitlements import monitor_problem
from services.gateway.errors import BadRequest, Conflict, NotFound, Unprocessable
from services.gateway.security import Principal
from services.gateway.templates import resolve

if TYPE_CHECKING:
    from services.gateway.api.deps import Components

Change = Literal["paused", "resumed", "deleted"]


def _check_schedule(body: MonitorCreate, minimum: int) -> None:
    """400 for a schedule the scheduler cannot read or that fires closer than `minimum` seconds apart."""
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


async def create_monitor(parts: Components, who: Principal, body: MonitorCreate) -> dict[str, str]:
    """Schedule a recurring question within the tenant's plan; the scheduler picks it up from the event."""
    _check_schedule(body, parts.settings.monitor_min_interval_s)
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
    event = MonitorCreated.create(payload, tenant_id=who.tenant_id, actor=who.actor())
    await publish(parts, event)
    return {"monitor_id": monitor_id, "status": "active"}


async def found_monitor(parts: Components, tenant_id: str, monitor_id: str) -> dict[str, Any]:
    """The tenant's monitor (404 for anyone else's, a deleted or an unknown one)."""
    monitor = await asyncio.to_thread(parts.monitors.get, tenant_id, monitor_id)
    if monitor is None or monitor["status"] == "deleted":
        raise NotFound("monitor not found")
    return monitor


async def change_monitor(
    parts: Components, who: Principal, monitor_id: str, change: Change, required: str | None
) -> dict[str, str]:
    """Ask the scheduler to pause, resume or delete the monitor (409 unless it is in the `required` status)."""
    monitor = await found_monitor(parts, who.tenant_id, monitor_id)
    if required is not None and monitor["status"] != required:
        raise Conflict(f"the monitor is {monitor['status']}")
    event = MonitorChanged.create(
        MonitorChangedPayload(monitor_id=monitor_id, change=change),
        tenant_id=who.tenant_id,
        actor=who.actor(),
    )
    await publish(parts, event)
    return {"monitor_id": monitor_id, "status": f"{change} requested"}
