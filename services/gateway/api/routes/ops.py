"""The operators' view of the bus: streams and durable consumers, as JetStream reports them now;
the event browser and the dead letters are `ops_events` and `ops_deadletters`, with the same check.

Only for platform operators and admins; every use is in the platform's audit log (see
`services.gateway.api.ops_access`). Reading has no side effect on the bus: no consumer is
created, nothing is acknowledged.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.api.models.ops import ConsumerListPublic, StreamListPublic
from services.gateway.api.ops_access import OPERATOR, BusStateDep
from services.gateway.application import ops

router = APIRouter(prefix="/v1/ops", tags=["ops"], dependencies=[OPERATOR])


@router.get("/streams")
async def list_streams(state: BusStateDep) -> StreamListPublic:
    """Every JetStream stream: subjects, message and byte counts, first and last sequence and
    time, limits, replicas."""
    return await ops.streams(state)


@router.get("/consumers")
async def list_consumers(state: BusStateDep) -> ConsumerListPublic:
    """Every durable consumer of every stream: pending, waiting for an ack, redelivered, pull
    requests waiting, last activity, and lag as time (the age of the oldest message it owes)."""
    return await ops.consumers(state)
