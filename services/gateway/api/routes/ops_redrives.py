"""Redriving and discarding dead letters, one or in bulk by filter: only for platform admins
(`ops:redrive`). Each attempt is on record before it is made (`REDRIVER`), and each change after
it, with the letters' sequences and the filter (`record_action`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from services.gateway.adapters.jetstream_messages import JetStreamMessages
from services.gateway.adapters.jetstream_state import JetStreamState
from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import Components, ComponentsDep
from services.gateway.api.models.ops_events import (
    DeadLetterFilter,
    DiscardListPublic,
    DiscardPublic,
    RedriveListPublic,
    RedrivePublic,
)
from services.gateway.api.ops_access import REDRIVER, BusMessagesDep, BusStateDep, Redriver, record_action
from services.gateway.application import dead_letters as letters
from services.gateway.errors import BadRequest
from services.gateway.readmodels.store import GatewayStore
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops/deadletters", tags=["ops"], dependencies=[REDRIVER])
Seq = Annotated[int, Path(ge=1, le=MAX_SEQUENCE)]
REDRIVEN, DISCARDED = "ops.deadletter.redriven", "ops.deadletter.discarded"
# `letters.redrive` or `letters.discard`: (store, messages, seq, actor) -> what was done.
LetterAction = Callable[[GatewayStore, JetStreamMessages, int, str], Awaitable[dict[str, Any]]]


@router.post("/{seq}/redrive")
async def redrive_dead_letter(
    seq: Seq, request: Request, parts: ComponentsDep, messages: BusMessagesDep, who: Redriver
) -> RedrivePublic:
    """Publish the letter to its original subject again (a second redrive changes nothing)."""
    done = await letters.redrive(parts.store, messages, seq, who.email)
    await record_action(request, parts, who, REDRIVEN, seqs=[seq], subject=done["subject"], stored=done["stored"])
    return RedrivePublic.model_validate(done)


@router.post("/{seq}/discard")
async def discard_dead_letter(
    seq: Seq, request: Request, parts: ComponentsDep, messages: BusMessagesDep, who: Redriver
) -> DiscardPublic:
    """Mark the letter discarded: no longer listed as open (the stream keeps it until its limits)."""
    done = await letters.discard(parts.store, messages, seq, who.email)
    await record_action(request, parts, who, DISCARDED, seqs=[seq])
    return DiscardPublic.model_validate(done)


@dataclass(frozen=True, slots=True)
class BulkAction:
    """One action on every open letter matching the filter (up to `limit`), on record with the
    letters' sequences and the filter once done."""

    body: DeadLetterFilter
    request: Request
    parts: Components
    state: JetStreamState
    messages: JetStreamMessages
    who: Principal

    async def apply(self, act: LetterAction, kind: str) -> list[dict[str, Any]]:
        body, parts = self.body, self.parts
        match = letters.LetterFilter(service=body.service, subject=body.subject, reason=body.reason)
        seqs = await letters.matching_seqs(parts.store, self.state, self.messages, match, body.limit)
        done = [await act(parts.store, self.messages, seq, self.who.email) for seq in seqs]
        await record_action(self.request, parts, self.who, kind, seqs=seqs, filter=body.model_dump(exclude_none=True))
        return done


def bulk_action(
    body: DeadLetterFilter,
    request: Request,
    parts: ComponentsDep,
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Redriver,
) -> BulkAction:
    if not (body.service or body.subject or body.reason):
        raise BadRequest("a bulk action needs a filter: service, subject or reason")
    return BulkAction(body, request, parts, state, messages, who)


BulkDep = Annotated[BulkAction, Depends(bulk_action)]


@router.post("/redrive")
async def redrive_matching(bulk: BulkDep) -> RedriveListPublic:
    """Redrive every open letter matching the filter, oldest first (up to `limit`)."""
    done = await bulk.apply(letters.redrive, REDRIVEN)
    return RedriveListPublic(redriven=[RedrivePublic.model_validate(d) for d in done])


@router.post("/discard")
async def discard_matching(bulk: BulkDep) -> DiscardListPublic:
    """Discard every open letter matching the filter (up to `limit`)."""
    done = await bulk.apply(letters.discard, DISCARDED)
    return DiscardListPublic(discarded=[DiscardPublic.model_validate(d) for d in done])
