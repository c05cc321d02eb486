"""Dead letters for operators: list and inspect (`ops:read`), checked and audited as every ops
route (`OPERATOR`). Redriving and discarding them is `ops_redrives`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.gateway.api.bounds import MAX_SEQUENCE
from services.gateway.api.deps import ComponentsDep
from services.gateway.api.models.ops_events import DeadLetterPagePublic, DeadLetterPublic
from services.gateway.api.ops_access import OPERATOR, BusMessagesDep, BusStateDep
from services.gateway.application import dead_letters as letters
from services.gateway.security import Principal

router = APIRouter(prefix="/v1/ops/deadletters", tags=["ops"], dependencies=[OPERATOR])
Seq = Annotated[int, Path(ge=1, le=MAX_SEQUENCE)]
Caller = Annotated[Principal, OPERATOR]


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
