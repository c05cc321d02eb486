"""Redriving and discarding dead letters, one or in bulk by filter: only for platform admins
(`ops:redrive`). Each attempt is on record before it is made (`REDRIVER`), and each change after
it, with the letters' sequences and the filter (`record_action`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import ComponentsDep
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

router = APIRouter(prefix="/v1/ops/deadletters", tags=["ops"], dependencies=[REDRIVER])
Seq = Annotated[int, Path(ge=1, le=MAX_SEQUENCE)]
REDRIVEN, DISCARDED = "ops.deadletter.redriven", "ops.deadletter.discarded"


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


def _bulk(body: DeadLetterFilter) -> letters.LetterFilter:
    if not (body.service or body.subject or body.reason):
        raise BadRequest("a bulk action needs a filter: service, subject or reason")
    return letters.LetterFilter(service=body.service, subject=body.subject, reason=body.reason)


@router.post("/redrive")
async def redrive_matching(
    body: DeadLetterFilter,
    request: Request,
    parts: ComponentsDep,
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Redriver,
) -> RedriveListPublic:
    """Redrive every open letter matching the filter, oldest first (up to `limit`)."""
    seqs = await letters.matching_seqs(parts.store, state, messages, _bulk(body), body.limit)
    done = [await letters.redrive(parts.store, messages, seq, who.email) for seq in seqs]
    await record_action(request, parts, who, REDRIVEN, seqs=seqs, filter=body.model_dump(exclude_none=True))
    return RedriveListPublic(redriven=[RedrivePublic.model_validate(d) for d in done])


@router.post("/discard")
async def discard_matching(
    body: DeadLetterFilter,
    request: Request,
    parts: ComponentsDep,
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Redriver,
) -> DiscardListPublic:
    """Discard every open letter matching the filter (up to `limit`)."""
    seqs = await letters.matching_seqs(parts.store, state, messages, _bulk(body), body.limit)
    done = [await letters.discard(parts.store, messages, seq, who.email) for seq in seqs]
    await record_action(request, parts, who, DISCARDED, seqs=seqs, filter=body.model_dump(exclude_none=True))
    return DiscardListPublic(discarded=[DiscardPublic.model_validate(d) for d in done])
