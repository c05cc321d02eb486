"""Core-NATS request/reply of the orchestrator's rollouts: start one, command it, read them.

The gateway's `/v1/ops/rollouts` routes ask here. Requests go to a queue group, so with several
replicas exactly one answers each. A start or a command is a unit of the group commit
(`run_command`), answered once stored; another replica may store the same board or rollout
first, and then the loser reloads and tries again (finding, say, the rollout already started).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from contracts import subjects
from contracts.rollouts import (
    RolloutCommandRequest,
    RolloutReply,
    RolloutsQuery,
    RolloutsReply,
    StartRolloutRequest,
)
from quarry_runtime.bus import Bus
from quarry_runtime.replies import Respond, parsed, serving
from services.orchestrator.rollouts.application import (
    COMPONENTS,
    RolloutConflict,
    RolloutRefused,
    RolloutUseCases,
)
from services.orchestrator.rollouts.board import board_id
from services.orchestrator.rollouts.domain import Rollout, RolloutError
from services.orchestrator.rollouts.info import rollout_info

QUEUE: Final = "orchestrator-rollouts"
ATTEMPTS: Final = 3
SETTLE_S: Final = 5.0
T = TypeVar("T")


async def _stored(app: RolloutUseCases, command: Callable[[], T], touched: list[uuid.UUID]) -> T:
    """Run `command` as a unit of the group commit, tried again on a failed save (a conflict with
    another replica); a refusal is not tried again."""
    refusals = (RolloutError, RolloutRefused, RolloutConflict, LookupError)
    return await app.run_command_retrying(
        command, touched, refusals=refusals, attempts=ATTEMPTS, what="a rollout command"
    )


def responders(app: RolloutUseCases) -> dict[str, Respond]:
    """Reply builders by request subject; each takes the raw request and returns the reply model."""

    async def start(request: StartRolloutRequest) -> BaseModel:
        touched = [uuid.UUID(board_id(request.spec.component))]
        return await _answer(lambda: _stored(app, lambda: app.start_rollout(request), touched))

    async def command(request: RolloutCommandRequest) -> BaseModel:
        touched = _rollout_ids(request.rollout_id)
        return await _answer(lambda: _stored(app, lambda: app.command_rollout(request), touched))

    async def query(request: RolloutsQuery) -> BaseModel:
        if request.rollout_id is not None:
            ids = _rollout_ids(request.rollout_id)
            for aggregate_id in ids:
                await app.until_settled(aggregate_id, SETTLE_S)
            rollout = app.get_rollout(request.rollout_id) if ids else None
            if rollout is None or (request.component and rollout.component != request.component):
                return RolloutsReply(error=f"no rollout {request.rollout_id}", status=404)
            return RolloutsReply(rollouts=[rollout_info(rollout)])
        for name in (request.component,) if request.component else COMPONENTS:
            await app.until_settled(uuid.UUID(board_id(name)), SETTLE_S)
        return RolloutsReply(rollouts=[rollout_info(r) for r in app.list_rollouts(request.component)])

    return {
        subjects.ROLLOUT_START: parsed(StartRolloutRequest, RolloutReply, "rollout start", start, status=400),
        subjects.ROLLOUT_COMMAND: parsed(RolloutCommandRequest, RolloutReply, "rollout command", command, status=400),
        subjects.ROLLOUT_QUERY: parsed(RolloutsQuery, RolloutsReply, "rollouts query", _found(query), status=400),
    }


async def _answer(run: Callable[[], Awaitable[Rollout]]) -> RolloutReply:
    try:
        rollout = await run()
    except RolloutRefused as exc:
        return RolloutReply(error=str(exc), status=422)
    except (RolloutConflict, RolloutError) as exc:
        return RolloutReply(error=str(exc), status=409)
    except LookupError as exc:
        return RolloutReply(error=str(exc).strip("'\""), status=404)
    return RolloutReply(rollout=rollout_info(rollout))


def _found(query: Callable[[RolloutsQuery], Awaitable[BaseModel]]) -> Callable[[RolloutsQuery], Awaitable[BaseModel]]:
    async def respond(request: RolloutsQuery) -> BaseModel:
        try:
            return await query(request)
        except LookupError as exc:
            return RolloutsReply(error=str(exc).strip("'\""), status=404)

    return respond


def _rollout_ids(rollout_id: str) -> list[uuid.UUID]:
    """The aggregate id of `rollout_id`, or none when it is not a rollout id at all."""
    try:
        return [Rollout.create_id(rollout_id)]
    except ValueError:
        return []


def serve(bus: Bus, app: RolloutUseCases) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background job for `Service`: answer requests until cancelled."""
    return serving(bus, responders(app), queue=QUEUE, who="the orchestrator")
