"""Replays from the operators' console: `quarry replay`'s comparison of the read models with a
fresh rebuild from the event log, run by the gateway in the background for a platform admin
(`ops:replay`), its report kept for reading back. One runs at a time (409 while one does)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.ops_replays import ReplayListPublic, ReplayPublic
from services.gateway.api.ops_access import REPLAYER, BusMessagesDep, BusStateDep, record_action
from services.gateway.application import replay_jobs
from services.gateway.errors import NotFound
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops/replays", tags=["ops"], dependencies=[REPLAYER])
Replayer = Annotated[Principal, REPLAYER]
ReplayId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


@router.post("", status_code=202)
async def start_replay(
    request: Request, parts: ComponentsDep, state: BusStateDep, messages: BusMessagesDep, who: Replayer
) -> ReplayPublic:
    """Start a replay up to the stream's last message now; poll `GET /v1/ops/replays/{id}` for its report."""
    started = await replay_jobs.start(parts.store.replays, parts.store.db, state, messages, who.email)
    await record_action(request, parts, who, "ops.replay.started", replay_id=started["replay_id"])
    return ReplayPublic.model_validate(started)


@router.get("")
async def list_replays(parts: ComponentsDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> ReplayListPublic:
    """The latest replays, newest first, with their reports."""
    return ReplayListPublic.model_validate({"replays": await asyncio.to_thread(parts.store.replays.newest, limit)})


@router.get("/{replay_id}")
async def get_replay(replay_id: ReplayId, parts: ComponentsDep) -> ReplayPublic:
    """One replay: running (with the messages read so far), or its report."""
    found = await asyncio.to_thread(parts.store.replays.get, replay_id)
    if found is None:
        raise NotFound("no such replay")
    return ReplayPublic.model_validate(found)
