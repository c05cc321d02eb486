"""The run inspector: the task graph and the memory a run indexed, folded from its event log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.gateway.api.deps import ComponentsDep, RunReader
from services.gateway.api.models.inspect import RunTasksPublic
from services.gateway.application import inspection

router = APIRouter(prefix="/v1/runs", tags=["runs"])
MAX_ID_CHARS = 100


@router.get("/{run_id}/tasks", response_model_exclude_unset=True)
async def run_tasks(
    run_id: Annotated[str, Path(max_length=MAX_ID_CHARS)], who: RunReader, parts: ComponentsDep
) -> RunTasksPublic:
    """Each task with its attempts (start, end, outcome, duration), the policy decisions on the
    tools it asked for, and the memory the run indexed (its findings: the draft's claims, shown
    to those who may see the draft). A task's `usage` sums the usage records its worker reported
    (tokens in and out, search calls, seconds, models; overall and per tool); `usage_records`
    counts those its outcomes name. A task's `credits` are what billing metered for its usage
    records, and `credits` of the run their total; when billing does not answer in time, every
    task's `credits` is null and the run's `credits.available` is false."""
    return RunTasksPublic.model_validate(await inspection.run_tasks(parts, who, run_id))
