"""Dead letters for operators: list and inspect (`ops:read`); redrive and discard, one or in bulk
(`ops:redrive`, platform admins), each change in the platform's audit log besides the read
every ops route leaves (`OPERATOR`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.ops_events import (
    DeadLetterFilter,
    DeadLetterPagePublic,
    DeadLetterPublic,
    DiscardListPublic,
    DiscardPublic,
    RedriveListPublic,
    RedrivePublic,
)
from services.gateway.api.ops_access import OPERATOR, BusMessagesDep, BusStateDep, Redriver, record_action
from services.gateway.application import dead_letters as letters
from services.gateway.errors import BadRequest
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops/deadletters", tags=["ops"], dependencies=[OPERATOR])
Seq = Annotated[int, Path(ge=1, le=MAX_SEQUENCE)]
Caller = Annotated[Principal, OPERATOR]
REDRIVEN, DISCARDED = "ops.deadletter.redriven", "ops.deadletter.discarded"


@router.get("")
async def list_dead_letters(
    parts: ComponentsDep,
    state: BusStateDep,
    messages: BusMessagesDep,
    who: Caller,
    service: Annotated[str | None, Query(max_length=64)] = None,
    subject: Annotated[str | None, Query(max_length=256, description="the subject it was published on")] = None,
    reason: Annotated[str | None, Query(max_length=256, description="contained in the reason")] = None,
    letter_state: Annotated[str, Query(alias="state", pattern="^(open|redriven|discarded|all)$")] = "open",
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQUENCE)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterPagePublic:
    """Dead letters, newest first, with the service that gave up and why; open ones by default."""
    wanted = letters.LetterFilter(service=service, subject=subject, reason=reason, state=letter_state)
    found = await letters.page(
        parts.store, state, messages, wanted, before=before, limit=limit, with_payload=who.can("ops:payload")
    )
    return DeadLetterPagePublic.model_validate(found)


@router.get("/{seq}")
async def inspect_dead_letter(
    seq: Seq, parts: ComponentsDep, messages: BusMessagesDep, who: Caller
) -> DeadLetterPublic:
    """One dead letter: its reason, original subject and sequence, envelope, and what was done with it."""
    found = await letters.inspect(parts.store, messages, seq, with_payload=who.can("ops:payload"))
    return DeadLetterPublic.model_validate(found)


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
